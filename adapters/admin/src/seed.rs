//! The demo data: three users, five customers, six products and three
//! promotions. Loading it again changes nothing: a user whose email, a
//! customer or product whose code, or a promotion whose name is taken is
//! left as it is, and no audit event is written for it.

use std::fmt;

use anyhow::{Context, Result};
use chrono::Utc;
use domain::customer::CUSTOMER;
use domain::entity::Entity;
use domain::product::PRODUCT;
use domain::promotion::PROMOTION;
use serde_json::{json, Value};
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

/// (code, name, hierarchy level)
pub const PRODUCTS: &[(&str, &str, &str)] = &[
    ("switch", "Play Switch Console", "sku"),
    ("tele", "Watch me TV", "sku"),
    ("fridge", "Cool Fridge", "sku"),
    ("intamd", "Intel AMD Laptop", "sku"),
    ("elec", "Electronics", "cat"),
    ("appli", "Appliances", "cat"),
];

/// (name, customer code, [(product code, discount type, value)])
pub type DemoPromotion = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str, &'static str)],
);
pub const PROMOTIONS: &[DemoPromotion] = &[
    (
        "Promo1",
        "ducksrus",
        &[("switch", "percent", "10"), ("tele", "amount", "25.00")],
    ),
    (
        "Promo2",
        "patoloco",
        &[("fridge", "percent", "5.5"), ("appli", "percent", "3")],
    ),
    (
        "Promo3",
        "canard",
        &[("elec", "amount", "12.50"), ("intamd", "percent", "7")],
    ),
];

/// How many records of one kind a run made, and found already there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub created: usize,
    pub existing: usize,
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub users: Tally,
    pub customers: Tally,
    pub products: Tally,
    pub promotions: Tally,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds = [
            ("users", self.users),
            ("customers", self.customers),
            ("products", self.products),
            ("promotions", self.promotions),
        ];
        let list = |n: fn(&Tally) -> usize| {
            kinds
                .iter()
                .map(|(kind, tally)| format!("{} {kind}", n(tally)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "seed: created {}; already there: {}",
            list(|t| t.created),
            list(|t| t.existing)
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
                report.users.created += 1;
                id
            }
            Outcome::Existed(id) => {
                report.users.existing += 1;
                id
            }
        };
        actor.get_or_insert(id);
    }

    // An existing Super Duck (however it was made) creates the rest.
    let actor: Uuid = actor.expect("USERS is not empty");
    let mut seeder = Seeder {
        conn,
        actor,
        request_id: &request_id,
    };
    for &(code, name) in CUSTOMERS {
        report.customers.add(
            seeder
                .create(&CUSTOMER, code, json!({"code": code, "name": name}))
                .await?,
        );
    }
    for &(code, name, level) in PRODUCTS {
        let body = json!({"code": code, "name": name, "hierarchyLevel": level});
        report
            .products
            .add(seeder.create(&PRODUCT, code, body).await?);
    }
    for &(name, customer, lines) in PROMOTIONS {
        if seeder.promotion_exists(name).await? {
            report.promotions.existing += 1;
            continue;
        }
        let mut products = Vec::new();
        for &(product, kind, value) in lines {
            products.push(json!({
                "productId": seeder.id_of(&PRODUCT, product).await?,
                "discounts": [{"type": kind, "value": value}],
            }));
        }
        let body = json!({"name": name, "customerId": seeder.id_of(&CUSTOMER, customer).await?, "products": products});
        report
            .promotions
            .add(seeder.create(&PROMOTION, name, body).await?);
    }
    Ok(report)
}

impl Tally {
    fn add(&mut self, created: bool) {
        if created {
            self.created += 1;
        } else {
            self.existing += 1;
        }
    }
}

struct Seeder<'c> {
    conn: &'c mut PgConnection,
    actor: Uuid,
    request_id: &'c str,
}

impl Seeder<'_> {
    /// Creates one record through the API's own parser and statement: the
    /// demo data obeys the rules the API enforces (and gets the default
    /// validity, from now for a year). `false` when its key was taken.
    async fn create(&mut self, entity: &Entity, label: &str, body: Value) -> Result<bool> {
        let what = entity.object_type;
        let columns = domain::schema::parse(entity, &body, Utc::now()).map_err(|errors| {
            anyhow::anyhow!("the demo {what} {label} is not valid: {errors:?}")
        })?;
        outbox::create(
            self.conn,
            entity,
            Uuid::now_v7(),
            self.actor,
            &columns,
            self.request_id,
        )
        .await
        .with_context(|| format!("cannot create the demo {what} {label}"))
    }

    /// The record whose code is `code` (the demo one, or one already there).
    async fn id_of(&mut self, entity: &Entity, code: &str) -> Result<Uuid> {
        let sql = format!(
            "SELECT id::text FROM {} WHERE lower(code) = lower($1)",
            entity.table
        );
        let id: String = sqlx::query_scalar(&sql)
            .bind(code)
            .fetch_one(&mut *self.conn)
            .await
            .with_context(|| format!("the {} {code} is not there", entity.object_type))?;
        Ok(Uuid::try_parse(&id)?)
    }

    async fn promotion_exists(&mut self, name: &str) -> Result<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM promotions WHERE name = $1)")
            .bind(name)
            .fetch_one(&mut *self.conn)
            .await
            .context("cannot look for the demo promotions")
    }
}
