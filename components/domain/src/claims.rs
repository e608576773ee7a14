//! What a spintemp bearer token says (API.md "Tokens").

use serde::{Deserialize, Serialize};

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
