//! Bearer tokens as /work/shared/API.md "Tokens" defines them: EdDSA
//! (Ed25519) JWTs issued by `spintemp` for `spintemp-api`.

use anyhow::{bail, Context, Result};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

// One definition of what a token says, shared with the verifier in the
// components.
pub use domain::claims::{Claims, AUDIENCE, DEFAULT_MAX_LIFETIME_SECONDS, ISSUER};

pub const DEFAULT_TTL_SECONDS: i64 = 3600;

/// Refuses a lifetime the app would refuse: a token over the deployment's
/// `token_max_lifetime_seconds` (`max_lifetime_seconds` here) gets a 401 on
/// every request, which is better said now than found out later.
pub fn check_lifetime(ttl_seconds: i64, max_lifetime_seconds: i64) -> Result<()> {
    if ttl_seconds > max_lifetime_seconds {
        bail!(
            "a token living {ttl_seconds} s would be refused: the app accepts at most \
             {max_lifetime_seconds} s (its token_max_lifetime_seconds{}); if your deployment \
             allows more, say so with --max-lifetime-seconds",
            if max_lifetime_seconds == DEFAULT_MAX_LIFETIME_SECONDS {
                ", by default"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// Signs `claims` with the Ed25519 key in `private_pem` (PKCS#8 PEM).
pub fn mint(claims: &Claims, private_pem: &str) -> Result<String> {
    let key = EncodingKey::from_ed_pem(private_pem.as_bytes())
        .context("the private key is not an Ed25519 key in PKCS#8 PEM")?;
    jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), claims, &key)
        .context("cannot sign the token")
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn new_claims_follow_the_contract() {
        let sub = Uuid::now_v7();
        let claims = Claims::new(sub, "a@example.com", true, 60);
        assert_eq!(claims.sub, sub.to_string());
        assert_eq!(claims.exp - claims.iat, 60);
        assert_eq!(
            (claims.iss.as_str(), claims.aud.as_str()),
            (ISSUER, AUDIENCE)
        );
        let jti = Uuid::parse_str(&claims.jti).unwrap();
        assert_eq!(jti.get_version_num(), 7);
        assert_ne!(Claims::new(sub, "a@example.com", true, 60).jti, claims.jti);
    }

    #[test]
    fn lifetimes_over_the_maximum_are_refused() {
        assert!(check_lifetime(DEFAULT_TTL_SECONDS, DEFAULT_MAX_LIFETIME_SECONDS).is_ok());
        assert!(check_lifetime(DEFAULT_MAX_LIFETIME_SECONDS, DEFAULT_MAX_LIFETIME_SECONDS).is_ok());
        let error = check_lifetime(
            DEFAULT_MAX_LIFETIME_SECONDS + 1,
            DEFAULT_MAX_LIFETIME_SECONDS,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("--max-lifetime-seconds"), "{error}");
        assert!(check_lifetime(7 * 86_400, 7 * 86_400).is_ok());
        assert!(check_lifetime(601, 600).is_err());
    }

    #[test]
    fn mint_rejects_a_public_key() {
        let pair = crate::keys::generate();
        let claims = Claims::new(Uuid::now_v7(), "a@example.com", false, 60);
        assert!(mint(&claims, &pair.public_pem).is_err());
    }
}
