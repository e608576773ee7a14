//! Creating users from the command line, by the API's own rules: the profile
//! and the password are parsed by `domain::user::Registration`, the password
//! is hashed by `domain::password`, and the row is inserted with its audit
//! event in one statement.

use std::fmt;

use anyhow::{bail, Context, Result};
use chrono::Utc;
use domain::entity::SqlValue;
use domain::user::{Profile, Registration, USER};
use domain::{password, FieldError};
use rand_core::{OsRng, RngCore};
use serde_json::{json, Map, Value};
use sqlx::postgres::PgConnection;
use sqlx::{Executor, Row};
use uuid::Uuid;

use crate::outbox;

/// Who to create. The password is not here: it is asked for separately, and
/// only once the profile is known to be good and the email free.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub company: Option<String>,
    pub admin: bool,
}

/// What to do when the email is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDuplicate {
    Fail,
    /// Leave the existing user as it is (`--if-absent`).
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created(Uuid),
    /// The email was taken (by this user); nothing was written.
    Existed(Uuid),
}

/// The profile or password broke the API's rules; one entry per field.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid(pub Vec<FieldError>);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let problems: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{} {}", label(&e.field), e.message))
            .collect();
        write!(f, "the user is not valid: {}", problems.join("; "))
    }
}

impl std::error::Error for Invalid {}

/// A field of the API's body as the operator gave it: the command's flag.
fn label(field: &str) -> String {
    match field {
        "email" => "--email".to_owned(),
        "firstName" => "--first-name".to_owned(),
        "lastName" => "--last-name".to_owned(),
        "company" => "--company".to_owned(),
        "password" => "the password".to_owned(),
        other => other.to_owned(),
    }
}

/// Creates `user` with the password `password()` returns, which is called
/// only when a user is really about to be created (so nobody is asked for a
/// password that would go unused, and no hash is computed for nothing).
///
/// The user is active and valid from now for a year (what a registration
/// through the API gives), an administrator if `user.admin`, and its own
/// creator and the actor of its audit event. A taken email (compared as the
/// unique index does, case-insensitively) is an error with
/// [`OnDuplicate::Fail`], and [`Outcome::Existed`] with [`OnDuplicate::Skip`].
pub async fn create(
    conn: &mut PgConnection,
    user: &NewUser,
    on_duplicate: OnDuplicate,
    request_id: &str,
    password: impl FnOnce() -> Result<String>,
) -> Result<Outcome> {
    // The profile first, so that a typo is reported before anyone types a
    // password.
    let email = profile(user)?.email;
    if let Some(id) = find_by_email(conn, &email).await? {
        return existing(&email, id, on_duplicate);
    }

    let password = password()?;
    // The parser holds the password to domain::password::problem's rules.
    let registration = Registration::parse(&body(user, Some(&password))).map_err(Invalid)?;
    let hash = hash(&registration.password);
    let mut columns = registration.columns(hash, Utc::now());
    // A registration is never an administrator; this tool makes the first.
    for (name, value) in &mut columns {
        if *name == "admin" {
            *value = SqlValue::Bool(user.admin);
        }
    }

    let id = Uuid::now_v7();
    if outbox::create(conn, &USER, id, id, &columns, request_id).await? {
        return Ok(Outcome::Created(id));
    }
    // Someone else took the email between the look-up and the insert.
    match find_by_email(conn, &email).await? {
        Some(id) => existing(&email, id, on_duplicate),
        None => bail!("cannot create the user {email}: the insert conflicted with another row"),
    }
}

/// The profile as the API would store it (the email trimmed, say).
fn profile(user: &NewUser) -> Result<Profile, Invalid> {
    // A registration needs a password: one that meets the rules stands in,
    // so that every error is the profile's.
    const STAND_IN: &str = "a password of the allowed length";
    Registration::parse(&body(user, Some(STAND_IN)))
        .map(|registration| registration.profile)
        .map_err(Invalid)
}

/// The id of the user with this email, compared case-insensitively.
pub async fn find_by_email(conn: &mut PgConnection, email: &str) -> Result<Option<Uuid>> {
    let row = conn
        .fetch_optional(
            sqlx::query("SELECT id::text FROM users WHERE lower(email) = lower($1)")
                .bind(email.to_owned()),
        )
        .await
        .context("cannot look up the user")?;
    let id = row.map(|row| parse_id(row.try_get(0)?)).transpose();
    id.context("cannot read the user's id")
}

fn existing(email: &str, id: Uuid, on_duplicate: OnDuplicate) -> Result<Outcome> {
    match on_duplicate {
        OnDuplicate::Skip => Ok(Outcome::Existed(id)),
        OnDuplicate::Fail => bail!(
            "a user with the email {email} already exists (id {id}); \
             use --if-absent to accept an existing user"
        ),
    }
}

/// The body `POST /api/auth/register` would get.
fn body(user: &NewUser, password: Option<&str>) -> Value {
    let mut body = Map::new();
    body.insert("email".into(), json!(user.email));
    body.insert("firstName".into(), json!(user.first_name));
    body.insert("lastName".into(), json!(user.last_name));
    if let Some(company) = &user.company {
        body.insert("company".into(), json!(company));
    }
    if let Some(password) = password {
        body.insert("password".into(), json!(password));
    }
    Value::Object(body)
}

/// The password's Argon2id PHC string, with a fresh random salt.
fn hash(plain: &str) -> String {
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    password::hash(plain, &salt)
}

pub(crate) fn parse_id(text: String) -> sqlx::Result<Uuid> {
    Uuid::parse_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> NewUser {
        NewUser {
            email: "ana@example.com".into(),
            first_name: "Ana".into(),
            last_name: "Lima".into(),
            company: None,
            admin: false,
        }
    }

    #[test]
    fn the_body_is_a_registration() {
        let registration = Registration::parse(&body(&user(), Some("long enough"))).unwrap();
        assert_eq!(registration.profile.company, None);
        let with_company = NewUser {
            company: Some("Acme".into()),
            ..user()
        };
        let registration = Registration::parse(&body(&with_company, Some("long enough"))).unwrap();
        assert_eq!(registration.profile.company.as_deref(), Some("Acme"));
    }

    #[test]
    fn errors_name_the_flags_and_never_the_password() {
        let bad = NewUser {
            email: "nope".into(),
            first_name: " ".into(),
            ..user()
        };
        let errors = Registration::parse(&body(&bad, Some("short"))).unwrap_err();
        let text = Invalid(errors).to_string();
        assert!(text.contains("--email must be"), "{text}");
        assert!(text.contains("--first-name"), "{text}");
        assert!(text.contains("the password must be at least 8"), "{text}");
        assert!(!text.contains("short"), "{text}");
    }

    #[test]
    fn hashes_verify_and_are_salted() {
        let phc = hash("correct horse");
        assert!(password::verify("correct horse", &phc));
        assert_ne!(hash("correct horse"), phc);
    }
}
