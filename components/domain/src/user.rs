//! User: who logs in. `email` is the login (unique, case-insensitive); the
//! password is write-only and leaves this crate only as an Argon2id hash.

use crate::entity::{Entity, Filter, FilterKind, SqlValue};
use crate::fields::{FieldError, Fields};
use crate::password;
use crate::validity::Validity;
use chrono::{DateTime, Months, Utc};
use serde_json::Value;

pub const USER: Entity = Entity {
    table: "users",
    path: "/api/users",
    object_type: "user",
    json_column: "api_json",
    search_columns: &["name", "email"],
    filters: &[
        Filter {
            param: "email",
            kind: FilterKind::Text,
            description: "The whole address, case-insensitively",
            sql: "lower(t.email) = lower({})",
        },
        Filter {
            param: "active",
            kind: FilterKind::Bool,
            description: "",
            sql: "t.active = {}",
        },
        Filter {
            param: "admin",
            kind: FilterKind::Bool,
            description: "",
            sql: "t.admin = {}",
        },
    ],
    unique_violation: "a user with this email already exists",
    schema_name: "User",
    // Users parse with their own rules (passwords, who may set `admin`):
    // see Registration and UserChanges.
    fields: &[],
    validity: true,
    server_fields: &[],
    embeds: &[],
    edit_guard: None,
    holders: &[],
};

/// Fields the server renders from others; a body may carry them back.
const DERIVED: &[&str] = &["name", "passwordChangedAt"];

pub const MAX_EMAIL_CHARS: usize = 254;

/// The profile fields every write of a user has.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub company: Option<String>,
}

impl Profile {
    fn parse(f: &mut Fields<'_>) -> Option<Profile> {
        let email = email_field(f);
        let first_name = f.required_text("firstName", 100);
        let last_name = f.required_text("lastName", 100);
        let company = f.optional_text("company", 255);
        let company_ok = !f.has_error("company");
        Some(Profile {
            email: email?,
            first_name: first_name?,
            last_name: last_name?,
            company: company_ok.then_some(company)?,
        })
    }

    fn columns(&self) -> Vec<(&'static str, SqlValue)> {
        vec![
            ("email", SqlValue::Text(self.email.clone())),
            ("first_name", SqlValue::Text(self.first_name.clone())),
            ("last_name", SqlValue::Text(self.last_name.clone())),
            ("company", SqlValue::OptionalText(self.company.clone())),
        ]
    }
}

/// `POST /api/auth/register`: a new, active, non-admin user valid for a
/// year from now. Nothing else may be set (an `admin` or `active` in the
/// body is an unknown field, not quietly dropped).
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub profile: Profile,
    pub password: String,
}

impl Registration {
    pub fn parse(body: &Value) -> Result<Registration, Vec<FieldError>> {
        let mut f = Fields::new(body)?;
        let profile = Profile::parse(&mut f);
        let password = password_field(&mut f, "password", true);
        f.finish(|| {
            Some(Registration {
                profile: profile?,
                password: password?,
            })
        })
    }

    /// The row, given the password's hash.
    pub fn columns(
        &self,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> Vec<(&'static str, SqlValue)> {
        let thru = now.checked_add_months(Months::new(12)).unwrap_or(now);
        let mut columns = self.profile.columns();
        columns.extend([
            ("password_hash", SqlValue::Text(password_hash)),
            ("active", SqlValue::Bool(true)),
            ("admin", SqlValue::Bool(false)),
            ("valid_from", SqlValue::Instant(now)),
            ("valid_thru", SqlValue::Instant(thru)),
        ]);
        columns
    }
}

/// `PUT /api/users/:id`. `active` and `admin` left out keep their values
/// (a demotion or a lock-out must be said, never implied by an omission);
/// `password` left out keeps the password.
#[derive(Debug, Clone, PartialEq)]
pub struct UserChanges {
    pub profile: Profile,
    pub active: Option<bool>,
    pub admin: Option<bool>,
    pub password: Option<String>,
    /// Required (by the component) when users change their own password.
    pub current_password: Option<String>,
    pub validity: Validity,
}

impl UserChanges {
    pub fn parse(body: &Value, now: DateTime<Utc>) -> Result<UserChanges, Vec<FieldError>> {
        let mut f = Fields::new(body)?;
        f.allow(DERIVED.iter().copied());
        let profile = Profile::parse(&mut f);
        let active = f.boolean("active");
        let admin = f.boolean("admin");
        let password = password_field(&mut f, "password", false);
        let current_password = raw_text(&mut f, "currentPassword");
        let validity = Validity::parse(&mut f, now);
        let flags_ok = !f.has_error("active") && !f.has_error("admin");
        let password_ok = !f.has_error("password") && !f.has_error("currentPassword");
        f.finish(|| {
            flags_ok.then_some(())?;
            password_ok.then_some(())?;
            Some(UserChanges {
                profile: profile?,
                active,
                admin,
                password,
                current_password,
                validity: validity?,
            })
        })
    }

    /// The columns to set, given the new password's hash if it changes.
    pub fn columns(&self, password_hash: Option<String>) -> Vec<(&'static str, SqlValue)> {
        let mut columns = self.profile.columns();
        if let Some(active) = self.active {
            columns.push(("active", SqlValue::Bool(active)));
        }
        if let Some(admin) = self.admin {
            columns.push(("admin", SqlValue::Bool(admin)));
        }
        if let Some(hash) = password_hash {
            columns.push(("password_hash", SqlValue::Text(hash)));
        }
        columns.push(("valid_from", SqlValue::Instant(self.validity.from)));
        columns.push(("valid_thru", SqlValue::Instant(self.validity.thru)));
        columns
    }
}

/// `POST /api/auth/login`.
#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

impl Credentials {
    pub fn parse(body: &Value) -> Result<Credentials, Vec<FieldError>> {
        let mut f = Fields::new(body)?;
        let email = f.required_text("email", MAX_EMAIL_CHARS);
        // As typed: a password is never trimmed, and never checked against
        // today's rules (it may predate them); only bounded.
        let password = raw_text(&mut f, "password");
        if password.is_none() && !f.has_error("password") {
            f.error("password", "is required");
        }
        if password
            .as_ref()
            .is_some_and(|p| p.chars().count() > password::MAX_CHARS)
        {
            f.error(
                "password",
                format!("must be at most {} characters", password::MAX_CHARS),
            );
        }
        let password_ok = !f.has_error("password");
        f.finish(|| {
            password_ok.then_some(())?;
            Some(Credentials {
                email: email?,
                password: password?,
            })
        })
    }
}

/// `email`: trimmed, at most 254 characters, an address.
fn email_field(f: &mut Fields<'_>) -> Option<String> {
    let email = f.required_text("email", MAX_EMAIL_CHARS)?;
    if !email_address::EmailAddress::is_valid(&email) || !email.contains('.') {
        f.error("email", "must be an email address such as ana@example.com");
        return None;
    }
    Some(email)
}

/// A string taken exactly as sent (passwords are not trimmed); empty counts
/// as missing.
fn raw_text(f: &mut Fields<'_>, name: &'static str) -> Option<String> {
    match f.value(name)? {
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        _ => {
            f.error(name, "must be a string");
            None
        }
    }
}

/// A new password, held to [`password::problem`]'s rules.
fn password_field(f: &mut Fields<'_>, name: &'static str, required: bool) -> Option<String> {
    let value = raw_text(f, name);
    match &value {
        None if required && !f.has_error(name) => f.error(name, "is required"),
        Some(p) => {
            if let Some(problem) = password::problem(p) {
                f.error(name, problem);
                return None;
            }
        }
        None => {}
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validity::parse_instant;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        parse_instant("2026-03-01T12:00:00Z").unwrap()
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn registers_an_active_non_admin_for_a_year() {
        let r = Registration::parse(&json!({
            "email": " Ana@Example.com ", "firstName": "Ana", "lastName": "Lima",
            "password": " spaces count "
        }))
        .unwrap();
        assert_eq!(r.profile.email, "Ana@Example.com");
        assert_eq!(r.password, " spaces count ");
        let columns = r.columns("$argon2id$…".into(), now());
        assert!(columns.contains(&("active", SqlValue::Bool(true))));
        assert!(columns.contains(&("admin", SqlValue::Bool(false))));
        assert!(columns.contains(&("company", SqlValue::OptionalText(None))));
        assert!(columns.contains(&(
            "valid_thru",
            SqlValue::Instant(parse_instant("2027-03-01T12:00:00Z").unwrap())
        )));
    }

    #[test]
    fn registration_refuses_what_it_may_not_set() {
        let errors = Registration::parse(&json!({
            "email": "not-an-address", "firstName": "A", "lastName": "B",
            "password": "short", "admin": true, "active": true
        }))
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            vec!["email", "password", "active", "admin"]
        );
        assert!(
            !errors.iter().any(|e| e.message.contains("short")),
            "a password never appears in an error"
        );
    }

    #[test]
    fn changes_keep_what_they_leave_out() {
        let c = UserChanges::parse(
            &json!({"email": "a@b.example", "firstName": "A", "lastName": "B",
                    "name": "A B", "passwordChangedAt": "2026-01-01T00:00:00Z", "id": "x"}),
            now(),
        )
        .unwrap();
        assert_eq!(
            (c.active, c.admin, c.password.as_deref()),
            (None, None, None)
        );
        let names: Vec<_> = c.columns(None).into_iter().map(|(n, _)| n).collect();
        assert!(!names.contains(&"active") && !names.contains(&"admin"));
        assert!(!names.contains(&"password_hash"));
    }

    #[test]
    fn changes_check_the_new_password_and_the_flags() {
        let errors = UserChanges::parse(
            &json!({"email": "a@b.example", "firstName": "A", "lastName": "B",
                    "admin": "yes", "password": "1234", "currentPassword": 5}),
            now(),
        )
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            vec!["admin", "password", "currentPassword"]
        );
    }

    #[test]
    fn credentials_are_taken_as_typed() {
        let c = Credentials::parse(&json!({"email": "a@b.example", "password": " x "})).unwrap();
        assert_eq!(c.password, " x ");
        let errors = Credentials::parse(&json!({"email": "", "pasword": "x"})).unwrap_err();
        assert_eq!(fields(&errors), vec!["email", "password", "pasword"]);
    }
}
