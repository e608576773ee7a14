//! The demo data: three users and five customers. Loading it again changes
//! nothing: a user whose email, or a customer whose code, is taken is left
//! as it is, and no audit event is written for it.

use std::fmt;

use anyhow::{Context, Result};
use chrono::Utc;
use domain::customer::{CustomerDraft, CUSTOMER};
use serde_json::json;
use sqlx::postgres::PgConnection;
use uuid::Uuid;

use crate::outbox;
use crate::users::{self, NewUser, OnDuplicate, Outcome};

/// (first name, last name, email, admin). The first is the administrator
/// who creates the customers.
pub const USERS: &[(&str, &str, &str, bool)] = &[
    ("Super", "Duck", "duck@mymail.com", true),
    ("Mighty", "Ant", "ant@mymail.com", false),
    ("Awesome", "Cow", "cow@mymail.com", false),
];

/// (code, name)
pub const CUSTOMERS: &[(&str, &str)] = &[
    ("ducksrus", "Ducks R Us"),
    ("ducksrusd", "Ducks R Us Dist"),
    ("ducksrusb", "Ducks R Us Bis"),
    ("patoloco", "Pato Loco Inc"),
    ("canard", "Canard Oui Oui"),
];

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub users_created: usize,
    pub users_existing: usize,
    pub customers_created: usize,
    pub customers_existing: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed: created {} users and {} customers; {} users and {} customers were already there",
            self.users_created,
            self.customers_created,
            self.users_existing,
            self.customers_existing
        )
    }
}

/// Loads the demo data. `password()` gives the demo users' password; it is
/// called once, and only if a demo user is missing (so that a second run
/// needs no password).
pub async fn run(
    conn: &mut PgConnection,
    password: impl FnOnce() -> Result<String>,
) -> Result<Report> {
    let request_id = outbox::request_id();
    let mut report = Report::default();
    // Asked for at most once, then shared by every user created.
    let mut password = Some(password);
    let mut known_password: Option<String> = None;
    let mut actor = None;

    for &(first_name, last_name, email, admin) in USERS {
        let user = NewUser {
            email: email.to_owned(),
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
            company: None,
            admin,
        };
        let outcome = users::create(conn, &user, OnDuplicate::Skip, &request_id, || {
            if let Some(ask) = password.take() {
                known_password = Some(ask()?);
            }
            known_password
                .clone()
                .context("the seed password was not given")
        })
        .await
        .with_context(|| format!("cannot create the demo user {email}"))?;
        let id = match outcome {
            Outcome::Created(id) => {
                report.users_created += 1;
                id
            }
            Outcome::Existed(id) => {
                report.users_existing += 1;
                id
            }
        };
        actor.get_or_insert(id);
    }

    // An existing Super Duck (however it was made) is the customers' creator.
    let actor: Uuid = actor.expect("USERS is not empty");
    let now = Utc::now();
    for &(code, name) in CUSTOMERS {
        // The API's parser: the demo data obeys the rules the API enforces
        // (and gets the default validity, from now for a year).
        let draft = CustomerDraft::parse(&json!({ "code": code, "name": name }), now).map_err(
            |errors| anyhow::anyhow!("the demo customer {code} is not valid: {errors:?}"),
        )?;
        let columns = draft.columns();
        if outbox::create(
            conn,
            &CUSTOMER,
            Uuid::now_v7(),
            actor,
            &columns,
            &request_id,
        )
        .await
        .with_context(|| format!("cannot create the demo customer {code}"))?
        {
            report.customers_created += 1;
        } else {
            report.customers_existing += 1;
        }
    }
    Ok(report)
}
