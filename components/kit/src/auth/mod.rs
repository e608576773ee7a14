//! The bearer-token guard. Functions hold only the Ed25519 *public* key, so a
//! compromised function can check tokens but never mint one.

mod eddsa;

use crate::config;
use crate::error::ApiError;
use crate::request::Ctx;
use domain::claims::{Claims, AUDIENCE, ISSUER};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use uuid::Uuid;

/// Who is calling, according to a verified token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: Uuid,
    pub email: String,
    pub admin: bool,
}

/// 401 unless the request carries a valid token: EdDSA only (an `alg` of
/// `none` or HS256 is refused, not trusted), our issuer and audience, not
/// expired.
pub fn authenticate(ctx: &Ctx) -> Result<Caller, ApiError> {
    let header = ctx
        .header("authorization")
        .ok_or(ApiError::Unauthorized("a bearer token is required"))?;
    let token = match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(ApiError::Unauthorized("use Authorization: Bearer <token>")),
    };

    eddsa::install();
    let pem = config::required("jwt_public_key")?;
    let key = DecodingKey::from_ed_pem(pem.as_bytes()).map_err(|e| {
        ApiError::Internal(format!(
            "jwt_public_key is not an Ed25519 public key PEM: {e}"
        ))
    })?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);

    let claims = decode::<Claims>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => ApiError::Unauthorized("the token has expired"),
            _ => ApiError::Unauthorized("the token is not valid"),
        })?
        .claims;
    let id = Uuid::try_parse(&claims.sub)
        .map_err(|_| ApiError::Unauthorized("the token is not valid"))?;
    Ok(Caller {
        id,
        email: claims.email,
        admin: claims.admin,
    })
}

/// As [`authenticate`], then 403 unless the caller is an administrator.
pub fn authenticate_admin(ctx: &Ctx) -> Result<Caller, ApiError> {
    let caller = authenticate(ctx)?;
    if !caller.admin {
        return Err(ApiError::Forbidden("only administrators may do this"));
    }
    Ok(caller)
}
