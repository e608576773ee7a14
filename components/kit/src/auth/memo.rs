//! The memo of verified tokens, in the key-value store `default`.
//!
//! Checking an Ed25519 signature cost more than the whole of a hello under
//! Spin (BENCHMARKS.md), and a client sends the same token for up to its
//! lifetime, so a token whose signature was verified once is remembered:
//! the entry's key is `HMAC-SHA256(token_memo_key, public key ‖ whole
//! token)`, and a hit lets [`super::authenticate`] skip the signature,
//! nothing else. The public key is in it so that a new signing key makes
//! every entry made under the old one a miss at once.
//!
//! Why a keyed hash and not the token or its plain hash: whoever can write
//! the store (another app on the same Redis, a leaked Redis password) but
//! does not hold `token_memo_key` cannot make an entry that any token
//! matches, since they cannot compute the key a forged token would need; and
//! an entry says nothing about any token without the key. Whoever holds the
//! key *and* can write the store can make forged tokens pass: that is the
//! threat model ARCHITECTURE.md records. An unreachable store is a miss:
//! the full check runs, never a refusal and never an acceptance.

use crate::cache::Cache;
use crate::config;
use crate::error::ApiError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const KEY_VARIABLE: &str = "token_memo_key";

pub struct Memo {
    cache: Cache,
    key: String,
}

impl Memo {
    /// The memo entry `token` would have. A `token_memo_key` that is not 32
    /// bytes in base64 is the operator's mistake: every request is refused
    /// with a 500 whose log line names the variable.
    pub fn open(public_key: &str, token: &str) -> Result<Memo, ApiError> {
        let secret = memo_secret(&config::required(KEY_VARIABLE)?)?;
        Ok(Memo {
            cache: Cache::open(),
            key: entry_key(&secret, public_key.trim(), token),
        })
    }

    /// Whether this exact token was verified before (and its entry has not
    /// expired).
    pub fn knows(&self) -> bool {
        self.cache.get(&self.key).is_some()
    }

    /// After a full check: remember the token until `expires_at` (unix
    /// seconds; past it the token is refused anyway).
    pub fn remember(&self, expires_at: i64) {
        self.cache.put_until(&self.key, b"", expires_at);
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

/// `spintemp:token:<hex of HMAC-SHA256(secret, public key, NUL, token)>`
/// (neither a PEM nor a token holds a NUL, so no two pairs run together).
pub fn entry_key(secret: &[u8; 32], public_key: &str, token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(public_key.as_bytes());
    mac.update(b"\0");
    mac.update(token.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut key = String::with_capacity(15 + 64);
    key.push_str("spintemp:token:");
    for byte in digest {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_depend_on_the_secret_and_on_every_byte_of_the_token() {
        let a = entry_key(&[1; 32], "key", "header.claims.signature");
        assert!(a.starts_with("spintemp:token:") && a.len() == 15 + 64);
        assert_ne!(a, entry_key(&[2; 32], "key", "header.claims.signature"));
        assert_ne!(a, entry_key(&[1; 32], "key", "header.claims.signaturf"));
        assert_ne!(
            a,
            entry_key(&[1; 32], "other key", "header.claims.signature")
        );
        assert_eq!(a, entry_key(&[1; 32], "key", "header.claims.signature"));
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
