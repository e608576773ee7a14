//! Logging in, refreshing and logging out: access tokens (EdDSA JWTs,
//! short-lived) and refresh tokens (opaque, rotated on every use).
//!
//! A refresh token is 256 random bits, sent to the client once and stored
//! only as its SHA-256. Each login starts a *family*; each refresh uses its
//! token up and issues the next one of the same family. Presenting a used
//! token again means two parties hold it (one of them a thief), so the whole
//! family is revoked: a family is alive only while none of its tokens is
//! revoked. Two refreshes of one token racing each other are
//! indistinguishable from theft: one gets the new pair, the other a 401 that
//! revokes the family (the web UI refreshes one at a time across its tabs).
//!
//! Only auth-login and auth-refresh call [`issue`], so only they link the
//! signing code and read `jwt_private_key`.

use crate::auth::eddsa;
use crate::config;
use crate::db;
use crate::error::ApiError;
use crate::request::Ctx;
use crate::response::Reply;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use domain::claims::Claims;
use domain::fields::Fields;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, Header};
use sha2::{Digest, Sha256};
use spin_sdk::pg4::{DbValue, ParameterValue};
use uuid::Uuid;

/// The refresh token's cookie: sent only to /api/auth, never readable by
/// scripts, never sent cross-site.
pub const COOKIE: &str = "spintemp_refresh";

const NO_CONFLICT: &str = "";

/// What an access token is minted from: a user row as the login and
/// refresh statements select it.
pub struct Holder {
    pub id: Uuid,
    pub email: String,
    pub admin: bool,
    /// `ceil(epoch of tokens_valid_from)`: a token must not say it was
    /// issued before the user's credentials last changed, or its writes are
    /// refused (kit::crud).
    pub not_before: i64,
    /// The user's API JSON, as stored.
    pub json: String,
}

impl Holder {
    /// From five columns: id (text), email, admin, not_before, api_json.
    pub fn from_row(row: &[DbValue]) -> Option<Holder> {
        Some(Holder {
            id: Uuid::try_parse(db::text(&row[0])?).ok()?,
            email: db::text(&row[1])?.to_owned(),
            admin: db::boolean(&row[2]),
            not_before: db::int64(&row[3])?,
            json: db::text(&row[4])?.to_owned(),
        })
    }
}

/// The SQL of [`Holder::from_row`]'s columns over a users row `u`.
pub const HOLDER_COLUMNS: &str = "u.id::text, u.email, u.admin, \
     ceil(extract(epoch FROM greatest(u.tokens_valid_from, 'epoch')))::int8, u.api_json";

/// A new refresh token and the hash it is stored under.
pub fn new_refresh_token() -> Result<(String, String), ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::Internal(format!("no randomness for a refresh token: {e}")))?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = refresh_hash(&token);
    Ok((token, hash))
}

/// The stored form of a refresh token: its SHA-256, in hex.
pub fn refresh_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The refresh token a request presents: `refreshToken` in its JSON body,
/// else the cookie. The body must be JSON even when the cookie carries the
/// token (`{}`), so that a cross-site HTML form, which cannot send JSON,
/// cannot use the cookie. `None` when neither has one.
pub fn presented_refresh_token(ctx: &Ctx) -> Result<Option<String>, ApiError> {
    let body = ctx.json_body()?;
    let mut f = Fields::new(&body)?;
    let from_body = f.text("refreshToken");
    f.finish(|| Some(()))?;
    Ok(from_body.or_else(|| cookie(ctx, COOKIE)))
}

fn cookie(ctx: &Ctx, name: &str) -> Option<String> {
    ctx.headers()
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        .filter_map(|(_, v)| std::str::from_utf8(v).ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// Stores a new family's first refresh token for `user`, and returns it.
pub fn start_family(db: &spin_sdk::pg4::Connection, user: Uuid) -> Result<String, ApiError> {
    let (token, hash) = new_refresh_token()?;
    let lifetime = config::positive_number("refresh_token_seconds")?;
    // Expired tokens of this user go at the same time: the table holds live
    // sessions (and a day of history for reuse detection), no more.
    let row = db::one_row(
        db,
        "WITH issued AS ( \
           INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) \
           VALUES ($1::text, $2::uuid, $3::uuid, now() + $4::int8 * interval '1 second') RETURNING 1 \
         ), pruned AS ( \
           DELETE FROM refresh_tokens WHERE user_id = $3::uuid AND expires_at < now() - interval '1 day' \
           RETURNING 1 \
         ) SELECT (SELECT count(*) FROM issued)",
        &[
            ParameterValue::Str(hash),
            ParameterValue::Uuid(Uuid::now_v7().to_string()),
            ParameterValue::Uuid(user.to_string()),
            ParameterValue::Int64(lifetime),
        ],
        NO_CONFLICT,
    )?;
    match db::int64(&row[0]) {
        Some(1) => Ok(token),
        _ => Err(ApiError::Internal("a refresh token was not stored".into())),
    }
}

/// Uses `presented` up and gives its holder and the family's next token;
/// 401 for a token that is unknown, used, revoked, expired, or whose user
/// may no longer log in. A used token revokes its family.
pub fn rotate(
    db: &spin_sdk::pg4::Connection,
    presented: &str,
) -> Result<(Holder, String), ApiError> {
    let refused = ApiError::Unauthorized("the refresh token is not valid; log in again");
    let (next, next_hash) = new_refresh_token()?;
    let lifetime = config::positive_number("refresh_token_seconds")?;
    let sql = format!(
        "WITH presented AS (SELECT * FROM refresh_tokens WHERE token_hash = $1::text FOR UPDATE), \
         family_alive AS ( \
           SELECT p.family_id FROM presented p WHERE NOT EXISTS ( \
             SELECT 1 FROM refresh_tokens f WHERE f.family_id = p.family_id AND f.revoked_at IS NOT NULL) \
         ), \
         used AS ( \
           UPDATE refresh_tokens r SET used_at = now() FROM presented p \
           WHERE r.token_hash = p.token_hash AND p.used_at IS NULL AND p.expires_at > now() \
             AND EXISTS (SELECT FROM family_alive) \
           RETURNING r.family_id, r.user_id \
         ), \
         reused AS ( \
           UPDATE refresh_tokens r SET revoked_at = now() FROM presented p \
           WHERE r.family_id = p.family_id AND p.used_at IS NOT NULL AND r.revoked_at IS NULL \
           RETURNING 1 \
         ), \
         holder AS ( \
           SELECT {HOLDER_COLUMNS} FROM users u JOIN used ON u.id = used.user_id \
           WHERE u.active AND now() BETWEEN u.valid_from AND u.valid_thru \
         ), \
         issued AS ( \
           INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) \
           SELECT $2::text, used.family_id, used.user_id, now() + $3::int8 * interval '1 second' \
           FROM used WHERE EXISTS (SELECT FROM holder) RETURNING 1 \
         ) \
         SELECT h.*, (SELECT count(*) FROM issued), (SELECT count(*) FROM reused) \
         FROM (SELECT 1) one LEFT JOIN holder h ON true"
    );
    let row = db::one_row(
        db,
        &sql,
        &[
            ParameterValue::Str(refresh_hash(presented)),
            ParameterValue::Str(next_hash),
            ParameterValue::Int64(lifetime),
        ],
        NO_CONFLICT,
    )?;
    if db::int64(&row[6]).is_some_and(|n| n > 0) {
        crate::log_line!("a used refresh token was presented again: its family is revoked");
    }
    if db::int64(&row[5]) != Some(1) {
        return Err(refused);
    }
    let holder = Holder::from_row(&row[..5]).ok_or(refused)?;
    Ok((holder, next))
}

/// Revokes the family of `presented` (nothing if it is unknown).
pub fn revoke_family(db: &spin_sdk::pg4::Connection, presented: &str) -> Result<(), ApiError> {
    db::one_row(
        db,
        "WITH revoked AS ( \
           UPDATE refresh_tokens SET revoked_at = now() \
           WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1::text) \
             AND revoked_at IS NULL RETURNING 1 \
         ) SELECT count(*) FROM revoked",
        &[ParameterValue::Str(refresh_hash(presented))],
        NO_CONFLICT,
    )?;
    Ok(())
}

/// The reply of login and refresh: `{accessToken, tokenType, expiresIn,
/// refreshToken, user}`, the refresh token also as its cookie.
pub fn issue(holder: &Holder, refresh_token: &str) -> Result<Reply, ApiError> {
    let lifetime = config::positive_number("access_token_seconds")?;
    let access_token = mint(holder, lifetime)?;
    let refresh_lifetime = config::positive_number("refresh_token_seconds")?;
    let mut body = serde_json::to_vec(&serde_json::json!({
        "accessToken": access_token,
        "expiresIn": lifetime,
        "refreshToken": refresh_token,
        "tokenType": "Bearer",
    }))
    .map_err(|e| ApiError::Internal(format!("encoding a session: {e}")))?;
    // Splice the stored user JSON in as it is, like every other read.
    body.pop();
    body.extend_from_slice(b",\"user\":");
    body.extend_from_slice(holder.json.as_bytes());
    body.push(b'}');
    // Every reply is `Cache-Control: no-store` already (kit::response).
    Ok(Reply::json_bytes(200, body)
        .with_header("set-cookie", set_cookie(refresh_token, refresh_lifetime)))
}

/// The cookie that deletes the refresh token's cookie (logout).
pub fn clear_cookie() -> String {
    set_cookie("", 0)
}

fn set_cookie(value: &str, max_age: i64) -> String {
    format!(
        "{COOKIE}={value}; Path=/api/auth; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict"
    )
}

/// An access token for `holder`, living `lifetime` seconds, signed with
/// `jwt_private_key`.
fn mint(holder: &Holder, lifetime: i64) -> Result<String, ApiError> {
    let pem = config::required("jwt_private_key")?;
    let key = SigningKey::from_pkcs8_pem(pem.trim()).map_err(|e| {
        ApiError::Internal(format!(
            "jwt_private_key is not an Ed25519 private key PEM: {e}"
        ))
    })?;
    let mut claims = Claims::new(holder.id, &holder.email, holder.admin, lifetime);
    // Within the verifier's minute of leeway for `iat`.
    if claims.iat < holder.not_before {
        claims.iat = holder.not_before;
        claims.exp = claims.iat.saturating_add(lifetime);
    }
    eddsa::install_signing();
    jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &claims,
        &eddsa::signing_key(&key),
    )
    .map_err(|e| ApiError::Internal(format!("signing a token: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_256_random_bits_stored_as_their_sha256() {
        let (a, hash) = new_refresh_token().unwrap();
        let (b, _) = new_refresh_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, refresh_hash(&a));
        assert!(!hash.contains(&a));
    }

    #[test]
    fn the_cookie_is_for_the_auth_routes_only_and_out_of_scripts_reach() {
        let cookie = set_cookie("abc", 60);
        for part in [
            "spintemp_refresh=abc",
            "Path=/api/auth",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Max-Age=60",
        ] {
            assert!(cookie.contains(part), "{cookie}");
        }
        assert!(clear_cookie().contains("Max-Age=0"));
    }
}
