//! What a spintemp bearer token says (API.md "Tokens").

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const ISSUER: &str = "spintemp";
pub const AUDIENCE: &str = "spintemp-api";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    pub email: String,
    pub admin: bool,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
}

impl Claims {
    /// Claims issued now and valid for `ttl_seconds` (a negative lifetime
    /// gives an already expired token, which tests of the verifier need).
    pub fn new(sub: Uuid, email: &str, admin: bool, ttl_seconds: i64) -> Claims {
        let iat = chrono::Utc::now().timestamp();
        Claims {
            sub: sub.to_string(),
            email: email.to_owned(),
            admin,
            iat,
            exp: iat.saturating_add(ttl_seconds),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            jti: Uuid::now_v7().to_string(),
        }
    }
}
