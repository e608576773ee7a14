//! Bearer tokens as /work/shared/API.md "Tokens" defines them: EdDSA
//! (Ed25519) JWTs issued by `spintemp` for `spintemp-api`.

use anyhow::{bail, Context, Result};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sqlx::postgres::PgConnection;
use sqlx::{Executor, FromRow};
use uuid::Uuid;

use crate::users::parse_id;

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

/// Whose token to mint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    /// Compared case-insensitively, as logins are.
    Email(String),
    Id(Uuid),
}

impl std::fmt::Display for UserRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserRef::Email(email) => write!(f, "with the email {email}"),
            UserRef::Id(id) => write!(f, "with the id {id}"),
        }
    }
}

/// What [`claims_for`] reads of a user.
#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    admin: bool,
    active: bool,
    /// `valid_from <= now()`
    started: bool,
    /// `valid_thru >= now()`
    not_ended: bool,
    valid_from: String,
    valid_thru: String,
    /// Whole seconds since the epoch, rounded up; 0 if never set.
    tokens_valid_from: i64,
}

/// The claims of a token for an existing user, who must be active and
/// within their validity now; `admin` and `email` are the database's.
///
/// The app refuses writes made with a token whose `iat` is before the
/// user's `tokens_valid_from` (moved forward when the password changes or
/// the user is deactivated or demoted). A token minted in the same second
/// as such a change would have an `iat` just before it, so `iat` is the
/// later of now and that instant rounded up to a whole second.
pub async fn claims_for(
    conn: &mut PgConnection,
    user: &UserRef,
    ttl_seconds: i64,
) -> Result<Claims> {
    const COLUMNS: &str = "id::text, email, admin, active, \
        valid_from <= now() AS started, valid_thru >= now() AS not_ended, \
        api_instant(valid_from) AS valid_from, api_instant(valid_thru) AS valid_thru, \
        ceil(extract(epoch FROM greatest(tokens_valid_from, 'epoch')))::int8 AS tokens_valid_from";
    let (condition, key) = match user {
        UserRef::Email(email) => ("lower(email) = lower($1)", email.clone()),
        UserRef::Id(id) => ("id = $1::uuid", id.to_string()),
    };
    let sql = format!("SELECT {COLUMNS} FROM users WHERE {condition}");
    let query = sqlx::query(&sql).bind(key);
    let Some(row) = conn
        .fetch_optional(query)
        .await
        .context("cannot look up the user")?
    else {
        bail!("there is no user {user}");
    };
    let found = UserRow::from_row(&row).context("cannot read the user")?;
    let (id, email) = (parse_id(found.id)?, found.email);
    if !found.active {
        bail!("the user {email} ({id}) is not active");
    }
    if !found.started {
        bail!(
            "the user {email} ({id}) is not valid yet: only from {}",
            found.valid_from
        );
    }
    if !found.not_ended {
        bail!(
            "the user {email} ({id}) is no longer valid: only until {}",
            found.valid_thru
        );
    }
    let mut claims = Claims::new(id, &email, found.admin, ttl_seconds);
    if found.tokens_valid_from > claims.iat {
        claims.iat = found.tokens_valid_from;
        claims.exp = found.tokens_valid_from.saturating_add(ttl_seconds);
    }
    Ok(claims)
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
