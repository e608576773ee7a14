//! Bearer tokens as /work/shared/API.md "Tokens" defines them: EdDSA
//! (Ed25519) JWTs issued by `spintemp` for `spintemp-api`.

use anyhow::{Context, Result};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

// One definition of what a token says, shared with the verifier in the
// components.
pub use domain::claims::{Claims, AUDIENCE, ISSUER};

pub const DEFAULT_TTL_SECONDS: i64 = 3600;

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
    fn mint_rejects_a_public_key() {
        let pair = crate::keys::generate();
        let claims = Claims::new(Uuid::now_v7(), "a@example.com", false, 60);
        assert!(mint(&claims, &pair.public_pem).is_err());
    }
}
