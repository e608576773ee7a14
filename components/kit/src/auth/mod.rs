//! The bearer-token guard. Functions hold only the Ed25519 *public* key, so a
//! compromised function can check tokens but never mint one (auth-login and
//! auth-refresh, which hold the private key, sign through [`crate::sessions`]).
//!
//! A token that passed the full check once is remembered in the replica's
//! own store ([`memo`]), so that later requests with it skip the signature
//! check: its claims are still decoded and checked every time.

pub(crate) mod eddsa;
pub mod memo;

use crate::config;
use crate::error::ApiError;
use crate::request::Ctx;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use domain::claims::{Claims, AUDIENCE, ISSUER};
use ed25519_dalek::pkcs8::{DecodePublicKey, PublicKeyBytes};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use uuid::Uuid;

/// How far the clocks of whoever minted a token and of the function checking
/// it may disagree, for `exp`, `nbf` and `iat` alike: one minute, which is
/// jsonwebtoken's default. Tokens are minted by other machines (login, an
/// operator's laptop running `spintemp-admin token`); NTP keeps servers well
/// inside a second, but a laptop or a VM after suspend can drift by tens of
/// seconds, and refusing a fresh token for that would look like a random
/// 401. A minute more of life for an expired token is nothing next to its
/// lifetime of up to a day.
pub const LEEWAY_SECONDS: i64 = 60;

/// The variable that caps a token's lifetime (see [`verify`]).
const MAX_LIFETIME_VARIABLE: &str = "token_max_lifetime_seconds";

/// Who is calling, according to a verified token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: Uuid,
    pub email: String,
    pub admin: bool,
    /// The token's `iat`: every write checks that the user's credentials
    /// have not changed since (kit::crud).
    pub issued_at: i64,
}

/// 401 unless the request carries a valid token (see [`verify`]); 500 if
/// the function's own configuration (`jwt_public_key`,
/// `token_max_lifetime_seconds`) is unusable.
pub fn authenticate(ctx: &Ctx) -> Result<Caller, ApiError> {
    let header = ctx
        .header("authorization")
        .ok_or(ApiError::Unauthorized("a bearer token is required"))?;
    let token = match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(ApiError::Unauthorized("use Authorization: Bearer <token>")),
    };
    let public_key = config::required("jwt_public_key")?;
    let max_lifetime = config::required(MAX_LIFETIME_VARIABLE)?;
    let memo = memo::Memo::open(&public_key, token)?;
    let claims = if memo.knows() {
        check(
            token,
            &public_key,
            &max_lifetime,
            Signature::AlreadyVerified,
        )?
    } else {
        let claims = check(token, &public_key, &max_lifetime, Signature::Verify)?;
        memo.remember(claims.exp.saturating_add(LEEWAY_SECONDS));
        claims
    };
    let id = Uuid::try_parse(&claims.sub)
        .map_err(|_| ApiError::Unauthorized("the token is not valid"))?;
    Ok(Caller {
        id,
        email: claims.email,
        admin: claims.admin,
        issued_at: claims.iat,
    })
}

/// Whether [`check`] verifies the signature.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Signature {
    Verify,
    /// The memo holds this exact token: its signature was verified before.
    AlreadyVerified,
}

/// As [`authenticate`], then 403 unless the caller is an administrator.
pub fn authenticate_admin(ctx: &Ctx) -> Result<Caller, ApiError> {
    let caller = authenticate(ctx)?;
    if !caller.admin {
        return Err(ApiError::Forbidden("only administrators may do this"));
    }
    Ok(caller)
}

/// The claims of `token` if it is one this API accepts: signed with EdDSA
/// by the key `public_key` (an `alg` of `none` or HS256 is refused, not
/// trusted), our issuer and audience, `exp` not passed, `nbf` (if any) and
/// `iat` not in the future, and a lifetime within `max_lifetime_seconds`
/// (the variables' text, as configured). Everything but Spin's variables,
/// so that it can be measured natively (bench/token).
pub fn verify(
    token: &str,
    public_key: &str,
    max_lifetime_seconds: &str,
) -> Result<Claims, ApiError> {
    check(token, public_key, max_lifetime_seconds, Signature::Verify)
}

/// [`verify`], or with `Signature::AlreadyVerified` everything it checks but
/// the signature: the algorithm in the header (still only EdDSA: the
/// provider refuses to make a verifier for any other), issuer, audience,
/// times and lifetime.
fn check(
    token: &str,
    public_key: &str,
    max_lifetime_seconds: &str,
    signature: Signature,
) -> Result<Claims, ApiError> {
    // Read before the token is even looked at: a bad value refuses every
    // token, valid or not, so the mistake shows on the first request.
    let max_lifetime = parse_max_lifetime(max_lifetime_seconds)?;
    eddsa::install();
    let key = DecodingKey::from_ed_der(&public_key_bytes(public_key)?);
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = LEEWAY_SECONDS as u64;
    // Off by default in jsonwebtoken: without it a token minted to start
    // working tomorrow works today.
    validation.validate_nbf = true;
    if signature == Signature::AlreadyVerified {
        // Deprecated in favour of `dangerous::insecure_decode`, which checks
        // nothing at all; this is jsonwebtoken's only public way to check
        // every claim (with the leeway) while skipping the signature alone.
        #[allow(deprecated)]
        validation.insecure_disable_signature_validation();
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ApiError::Unauthorized("the token is not valid"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(ApiError::Unauthorized("the token is not valid"));
        }
    }

    let claims = decode::<Claims>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => ApiError::Unauthorized("the token has expired"),
            ErrorKind::ImmatureSignature => ApiError::Unauthorized("the token is not valid yet"),
            _ => ApiError::Unauthorized("the token is not valid"),
        })?
        .claims;

    // jsonwebtoken checks neither `iat` nor the lifetime; its clock, though,
    // so that all of a token's times are judged against the same "now".
    let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX);
    if claims.iat > now.saturating_add(LEEWAY_SECONDS) {
        return Err(ApiError::Unauthorized(
            "the token says it was issued in the future",
        ));
    }
    // The lifetime it was minted with, so that a token minted for a year is
    // refused on its first day as on its last. With `iat` at most a leeway
    // ahead, this also bounds how long any token has left: exp − now ≤
    // max + leeway.
    if claims.exp.saturating_sub(claims.iat) > max_lifetime {
        return Err(ApiError::Unauthorized(
            "the token lives longer than this API accepts",
        ));
    }
    Ok(claims)
}

/// `token_max_lifetime_seconds` as a number of seconds above zero. Anything
/// else is the operator's mistake, and guessing what was meant could open
/// the door wider than intended ("3600s" falling back to a day), so every
/// token is refused with a 500 whose log line names the variable.
fn parse_max_lifetime(value: &str) -> Result<i64, ApiError> {
    match value.trim().parse::<i64>() {
        Ok(seconds) if seconds > 0 => Ok(seconds),
        _ => Err(ApiError::Internal(format!(
            "{MAX_LIFETIME_VARIABLE} is {value:?}: it must be a whole number of seconds above 0; \
             every token is refused until it is"
        ))),
    }
}

/// The 32 bytes of the Ed25519 public key in `jwt_public_key`, given either
/// as SPKI PEM (what `spintemp-admin keygen` writes, and `openssl pkey
/// -pubout`) or as those 32 bytes in base64 (standard or URL-safe alphabet,
/// padded or not: the form of a JWK's `x`). The bytes are only copied out
/// here, not checked to be a point on the curve: the verifier does that, once.
///
/// jsonwebtoken keeps an EdDSA key as its raw bytes whichever constructor
/// made it; its own PEM reader (pem + simple_asn1, whose OID parsing goes
/// through big integers) cost more per request than this and added ~60 KiB
/// to every component (BENCHMARKS.md, "The token check").
fn public_key_bytes(value: &str) -> Result<[u8; 32], ApiError> {
    let value = value.trim();
    if value.starts_with("-----BEGIN") {
        return PublicKeyBytes::from_public_key_pem(value)
            .map(|key| key.to_bytes())
            .map_err(|e| {
                ApiError::Internal(format!(
                    "jwt_public_key is not an Ed25519 public key PEM: {e}"
                ))
            });
    }
    const ANY_PADDING: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let alphabet = if value.contains(['-', '_']) {
        &alphabet::URL_SAFE
    } else {
        &alphabet::STANDARD
    };
    GeneralPurpose::new(alphabet, ANY_PADDING)
        .decode(value)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| {
            ApiError::Internal(
                "jwt_public_key is neither an Ed25519 public key PEM nor 32 bytes in base64"
                    .to_owned(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8032 section 7.1, test 1: a public key and its SPKI PEM.
    const KEY: [u8; 32] = [
        0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07,
        0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07,
        0x51, 0x1a,
    ];
    const PEM: &str = "-----BEGIN PUBLIC KEY-----\n\
                       MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n\
                       -----END PUBLIC KEY-----\n";

    #[test]
    fn the_key_may_be_pem_or_raw_base64() {
        for (why, value) in [
            ("PEM", PEM.to_owned()),
            ("PEM without the last newline", PEM.trim_end().to_owned()),
            ("PEM with CRLF", PEM.replace('\n', "\r\n")),
            ("PEM in blank lines", format!("\n\n{PEM}\n")),
            (
                "base64",
                "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=".to_owned(),
            ),
            (
                "unpadded",
                "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo".to_owned(),
            ),
            (
                "URL-safe",
                "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".to_owned(),
            ),
            (
                "spaces around",
                " 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo= \n".to_owned(),
            ),
        ] {
            assert_eq!(public_key_bytes(&value).ok(), Some(KEY), "{why}");
        }
    }

    #[test]
    fn anything_else_is_a_configuration_error() {
        let x25519 = "-----BEGIN PUBLIC KEY-----\n\
                      MCowBQYDK2VuAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n\
                      -----END PUBLIC KEY-----\n";
        let private = "-----BEGIN PRIVATE KEY-----\n\
                       MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n\
                       -----END PRIVATE KEY-----\n";
        for (why, value) in [
            ("empty", ""),
            ("an X25519 key", x25519),
            ("a private key", private),
            ("31 bytes", "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHUQ"),
            ("33 bytes", "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURoA"),
            (
                "hex",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            ),
            ("truncated PEM", &PEM[..60]),
        ] {
            assert!(
                matches!(public_key_bytes(value), Err(ApiError::Internal(_))),
                "{why}"
            );
        }
    }

    #[test]
    fn a_bad_maximum_lifetime_is_a_configuration_error() {
        assert_eq!(parse_max_lifetime(" 600\n").ok(), Some(600));
        for bad in [
            "",
            "0",
            "-1",
            "1.5",
            "3600s",
            "a day",
            "99999999999999999999",
        ] {
            assert!(
                matches!(parse_max_lifetime(bad), Err(ApiError::Internal(_))),
                "{bad:?}"
            );
        }
    }
}
