//! What a spintemp bearer token says (API.md "Tokens").

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const ISSUER: &str = "spintemp";
pub const AUDIENCE: &str = "spintemp-api";

/// The longest lifetime (`exp` − `iat`) the API accepts unless its
/// `token_max_lifetime_seconds` variable says otherwise: one day. The
/// default of that variable in spin.toml is this number (a test keeps them
/// equal), and `spintemp-admin token` refuses to mint beyond it, so that a
/// leaked token is good for a day at most.
pub const DEFAULT_MAX_LIFETIME_SECONDS: i64 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    pub email: String,
    pub admin: bool,
    pub iat: i64,
    /// Not before: spintemp mints none, but a token may carry one, and the
    /// verifier honours it (a future `nbf` is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
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
            nbf: None,
            exp: iat.saturating_add(ttl_seconds),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            jti: Uuid::now_v7().to_string(),
        }
    }
}
