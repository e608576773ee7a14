//! The memo of verified tokens, in the replica's own store
//! ([`crate::replica`]: Spin's local store, in memory).
//!
//! Checking an Ed25519 signature cost more than the whole of a hello under
//! Spin (BENCHMARKS.md), and a client sends the same token for up to its
//! lifetime, so a token whose signature was verified once is remembered, and
//! a hit lets [`super::authenticate`] skip the signature, nothing else. It
//! is kept in the replica's store rather than in Redis beside the cache: a
//! lookup there costs no network round trip (a warm read went from three
//! Redis commands to two), and each replica verifies a token once.
//!
//! An entry is named by `HMAC-SHA256(token_memo_key, public key ‖ whole
//! token)`; the public key is in it so that a new signing key makes every
//! entry made under the old one a miss at once. Why a keyed hash and not the
//! token or its plain hash: whoever can write the store but does not hold
//! `token_memo_key` cannot make an entry that any token matches, since they
//! cannot compute the digest a forged token would need; and an entry says
//! nothing about any token without the key. Whoever holds the key *and* can
//! write the store can make forged tokens pass: that is the threat model
//! the README records. An unreadable store is a miss: the full check runs,
//! never a refusal and never an acceptance.
//!
//! The store keeps what it is given until the process ends and has no
//! expiry, so the memo is a fixed table of [`SLOTS`] entries, each holding
//! the digest it is for and when it expires: the slot is picked by the
//! digest's first bytes, and a token whose slot another took is verified
//! again (and takes it back). A replica's memo never holds more than
//! `SLOTS` entries (~10 MB), however many tokens it sees.

use crate::config;
use crate::error::ApiError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt::Write as _;
use subtle::ConstantTimeEq;

const KEY_VARIABLE: &str = "token_memo_key";
/// Slots in a replica's memo: 16 bits of the digest.
pub const SLOTS: usize = 1 << 16;

pub struct Memo {
    digest: String,
}

impl Memo {
    /// The memo's view of `token`. A `token_memo_key` that is not 32 bytes
    /// in base64 is the operator's mistake: every request is refused with a
    /// 500 whose log line names the variable.
    pub fn open(public_key: &str, token: &str) -> Result<Memo, ApiError> {
        let secret = memo_secret(&config::required(KEY_VARIABLE)?)?;
        Ok(Memo {
            digest: digest(&secret, public_key.trim(), token),
        })
    }

    /// Whether this exact token was verified before on this replica (and
    /// its entry has not expired).
    pub fn knows(&self) -> bool {
        match crate::replica::get(&slot_key(&self.digest)) {
            Ok(Some(entry)) => matches(&entry, &self.digest, crate::now().timestamp()),
            Ok(None) => false,
            Err(why) => {
                crate::log_line!("token memo unreadable, verifying in full: {why}");
                false
            }
        }
    }

    /// After a full check: remember the token until `expires_at` (unix
    /// seconds; past it the token is refused anyway).
    pub fn remember(&self, expires_at: i64) {
        if let Err(why) =
            crate::replica::set(&slot_key(&self.digest), &entry(&self.digest, expires_at))
        {
            crate::log_line!("token memo not written: {why}");
        }
    }
}

fn memo_secret(value: &str) -> Result<[u8; 32], ApiError> {
    STANDARD
        .decode(value.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| {
            ApiError::Internal(format!(
                "{KEY_VARIABLE} is not 32 bytes in base64 (spintemp-admin keygen makes one); \
                 every token is refused until it is"
            ))
        })
}

/// The hex of `HMAC-SHA256(secret, public key, NUL, token)` (neither a PEM
/// nor a token holds a NUL, so no two pairs run together).
pub fn digest(secret: &[u8; 32], public_key: &str, token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(public_key.as_bytes());
    mac.update(b"\0");
    mac.update(token.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in mac.finalize().into_bytes() {
        // (No String per byte: this runs on every authenticated request.)
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// `spintemp:token:<the digest's first four hex digits>`: the slot a
/// digest's entry lives in.
pub fn slot_key(digest: &str) -> String {
    format!("spintemp:token:{}", &digest[..4])
}

/// A slot's value: `<expires at, unix s> <digest>`.
pub fn entry(digest: &str, expires_at: i64) -> Vec<u8> {
    format!("{expires_at} {digest}").into_bytes()
}

/// Whether the slot's `entry` is for `digest` and unexpired at `now`. The
/// digests are compared in constant time: how long a mismatch takes says
/// nothing of how much of a digest was right.
fn matches(entry: &[u8], digest: &str, now: i64) -> bool {
    let Some((expires_at, stored)) = std::str::from_utf8(entry)
        .ok()
        .and_then(|text| text.split_once(' '))
    else {
        return false;
    };
    let unexpired = expires_at.parse::<i64>().is_ok_and(|t| now < t);
    unexpired && bool::from(stored.as_bytes().ct_eq(digest.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_depend_on_the_secret_the_key_and_every_byte_of_the_token() {
        let a = digest(&[1; 32], "key", "header.claims.signature");
        assert_eq!(a.len(), 64);
        assert_ne!(a, digest(&[2; 32], "key", "header.claims.signature"));
        assert_ne!(a, digest(&[1; 32], "key", "header.claims.signaturf"));
        assert_ne!(a, digest(&[1; 32], "other key", "header.claims.signature"));
        assert_eq!(a, digest(&[1; 32], "key", "header.claims.signature"));
        assert_eq!(slot_key(&a), format!("spintemp:token:{}", &a[..4]));
    }

    #[test]
    fn a_slot_answers_only_for_its_own_digest_until_it_expires() {
        let mine = digest(&[1; 32], "key", "mine");
        let other = digest(&[1; 32], "key", "other");
        let stored = entry(&mine, 1_000);
        assert!(matches(&stored, &mine, 999));
        assert!(!matches(&stored, &mine, 1_000), "expired");
        assert!(!matches(&stored, &other, 999), "another token's slot");
        assert!(!matches(&stored, &mine[..63], 999));
        for garbage in [&b""[..], b"1000", b"soon abc", b"\xff\xfe 1"] {
            assert!(!matches(garbage, &mine, 0), "{garbage:?}");
        }
    }

    #[test]
    fn the_secret_must_be_32_bytes_of_base64() {
        assert!(memo_secret(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(memo_secret(&format!(" {}\n", STANDARD.encode([7u8; 32]))).is_ok());
        for bad in [
            "",
            "c2hvcnQ=",
            "not base64 at all!",
            &STANDARD.encode([7u8; 33]),
        ] {
            assert!(
                matches!(memo_secret(bad), Err(ApiError::Internal(_))),
                "{bad:?}"
            );
        }
    }
}
