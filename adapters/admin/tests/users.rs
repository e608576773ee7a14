//! `user create` and `token`, through the library, on a real database.
mod common;

use common::{count, events, TestDb};
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use spintemp_admin::token::{self, Claims, UserRef};
use spintemp_admin::users::{self, NewUser, OnDuplicate, Outcome};
use spintemp_admin::{keys, outbox};
use sqlx::PgConnection;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery";

fn ana() -> NewUser {
    NewUser {
        email: "ana@example.com".into(),
        first_name: "Ana".into(),
        last_name: "Lima".into(),
        company: Some("Acme".into()),
        admin: false,
    }
}

async fn create(
    conn: &mut PgConnection,
    user: &NewUser,
    on_duplicate: OnDuplicate,
) -> anyhow::Result<Outcome> {
    users::create(conn, user, on_duplicate, &outbox::request_id(), || {
        Ok(PASSWORD.to_owned())
    })
    .await
}

/// A password source that must not be asked.
fn never() -> anyhow::Result<String> {
    panic!("the password was asked for")
}

async fn created_id(conn: &mut PgConnection, user: &NewUser) -> Uuid {
    match create(conn, user, OnDuplicate::Fail)
        .await
        .expect("create the user")
    {
        Outcome::Created(id) => id,
        other => panic!("expected a new user, got {other:?}"),
    }
}

#[derive(Debug, sqlx::FromRow)]
struct UserRow {
    email: String,
    name: String,
    company: Option<String>,
    password_hash: String,
    active: bool,
    admin: bool,
    created_by: String,
    updated_by: String,
    /// valid_thru = valid_from + 1 year
    a_year: bool,
    api_json: String,
    version: i64,
}

async fn user_row(conn: &mut PgConnection, id: Uuid) -> UserRow {
    sqlx::query_as(
        "SELECT email, name, company, password_hash, active, admin, created_by::text, \
                updated_by::text, valid_thru = valid_from + interval '1 year' AS a_year, \
                api_json, version \
         FROM users WHERE id = $1::uuid",
    )
    .bind(id.to_string())
    .fetch_one(conn)
    .await
    .expect("read the user")
}

#[tokio::test]
async fn creates_a_user_whose_hash_verifies_and_whose_json_holds_no_secret() {
    let db = TestDb::migrated().await;
    let mut conn = db.connect().await;
    let request_id = outbox::request_id();

    let outcome = users::create(&mut conn, &ana(), OnDuplicate::Fail, &request_id, || {
        Ok(PASSWORD.to_owned())
    })
    .await
    .expect("create");
    let Outcome::Created(id) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(id.get_version_num(), 7);

    let row = user_row(&mut conn, id).await;
    assert_eq!(
        (row.email.as_str(), row.name.as_str()),
        ("ana@example.com", "Ana Lima")
    );
    assert_eq!(row.company.as_deref(), Some("Acme"));
    assert!((row.active, row.admin) == (true, false));
    assert!(row.a_year, "valid for a year");
    assert_eq!(row.created_by, id.to_string());
    assert_eq!(row.updated_by, id.to_string());
    assert!(row.password_hash.starts_with("$argon2id$"));
    assert!(domain::password::verify(PASSWORD, &row.password_hash));
    assert!(!domain::password::verify(
        "another password",
        &row.password_hash
    ));

    // "password" appears in the JSON only as the change date's key
    // (passwordChangedAt): no hash, no password, no field holding either.
    let json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&row.api_json).unwrap();
    let password_keys: Vec<&String> = json
        .keys()
        .filter(|k| k.to_lowercase().contains("password"))
        .collect();
    assert!(
        password_keys.iter().all(|k| *k == "passwordChangedAt"),
        "{}",
        row.api_json
    );
    assert!(!row.api_json.contains(&row.password_hash));
    assert!(!row.api_json.contains("argon2"));
    assert!(!row.api_json.contains(PASSWORD));

    let events = events(&mut conn).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(
        (
            event.object_type.as_str(),
            event.action.as_str(),
            event.operation.as_str()
        ),
        ("user", "create", "spintemp-admin")
    );
    assert_eq!(event.object_id, id.to_string());
    assert_eq!(event.actor, id.to_string(), "the user created itself");
    assert_eq!(event.before, None);
    assert_eq!(event.request_id, request_id);
    let after: serde_json::Value = serde_json::from_str(event.after.as_deref().unwrap()).unwrap();
    assert_eq!(after, serde_json::Value::Object(json));
}

#[tokio::test]
async fn a_taken_email_is_refused_unless_if_absent() {
    let db = TestDb::migrated().await;
    let mut conn = db.connect().await;
    let id = created_id(&mut conn, &ana()).await;
    let before = user_row(&mut conn, id).await;

    // The same address typed differently is the same user; the password is
    // not asked for a user that will not be created.
    let again = NewUser {
        email: " ANA@Example.com ".into(),
        first_name: "Other".into(),
        admin: true,
        ..ana()
    };
    let error = users::create(
        &mut conn,
        &again,
        OnDuplicate::Fail,
        &outbox::request_id(),
        never,
    )
    .await
    .expect_err("duplicate");
    assert!(format!("{error:#}").contains("already exists"), "{error:#}");

    let outcome = users::create(
        &mut conn,
        &again,
        OnDuplicate::Skip,
        &outbox::request_id(),
        never,
    )
    .await
    .expect("--if-absent accepts the existing user");
    assert_eq!(outcome, Outcome::Existed(id));

    let after = user_row(&mut conn, id).await;
    assert_eq!(
        (after.name, after.admin, after.version),
        (before.name, false, 1)
    );
    assert_eq!(after.password_hash, before.password_hash);
    assert_eq!(count(&mut conn, "users").await, 1);
    assert_eq!(
        count(&mut conn, "audit_outbox").await,
        1,
        "one event, for the one create"
    );
}

#[tokio::test]
async fn invalid_profiles_and_passwords_are_refused_naming_the_field() {
    let db = TestDb::migrated().await;
    let mut conn = db.connect().await;

    let bad = NewUser {
        email: "not an address".into(),
        last_name: "".into(),
        ..ana()
    };
    let error = users::create(
        &mut conn,
        &bad,
        OnDuplicate::Fail,
        &outbox::request_id(),
        never,
    )
    .await
    .expect_err("bad profile, checked before the password is asked for");
    let text = format!("{error:#}");
    assert!(text.contains("--email must be an email address"), "{text}");
    assert!(text.contains("--last-name"), "{text}");

    let error = users::create(
        &mut conn,
        &ana(),
        OnDuplicate::Fail,
        &outbox::request_id(),
        || Ok("short".to_owned()),
    )
    .await
    .expect_err("short password");
    let text = format!("{error:#}");
    assert!(
        text.contains("the password must be at least 8 characters"),
        "{text}"
    );
    assert!(!text.contains("short"), "{text}");

    assert_eq!(count(&mut conn, "users").await, 0);
    assert_eq!(count(&mut conn, "audit_outbox").await, 0);
}

#[tokio::test]
async fn admin_makes_an_administrator() {
    let db = TestDb::migrated().await;
    let mut conn = db.connect().await;
    let id = created_id(
        &mut conn,
        &NewUser {
            admin: true,
            ..ana()
        },
    )
    .await;
    let row = user_row(&mut conn, id).await;
    assert!(row.admin && row.active);
    assert!(row.api_json.contains(r#""admin":true"#), "{}", row.api_json);
}

fn verify(jwt: &str, public_pem: &str) -> Claims {
    let key = DecodingKey::from_ed_pem(public_pem.as_bytes()).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&["spintemp"]);
    validation.set_audience(&["spintemp-api"]);
    decode::<Claims>(jwt, &key, &validation)
        .expect("token verifies")
        .claims
}

#[tokio::test]
async fn tokens_carry_the_database_s_email_and_admin_flag() {
    let db = TestDb::migrated().await;
    let mut conn = db.connect().await;
    let admin = created_id(
        &mut conn,
        &NewUser {
            admin: true,
            ..ana()
        },
    )
    .await;
    let bea = NewUser {
        email: "bea@example.com".into(),
        ..ana()
    };
    let plain = created_id(&mut conn, &bea).await;
    let pair = keys::generate();

    let claims = token::claims_for(&mut conn, &UserRef::Email("ANA@example.COM".into()), 120)
        .await
        .expect("claims for an admin, by email");
    assert_eq!(claims.sub, admin.to_string());
    assert_eq!(claims.email, "ana@example.com", "the stored address");
    assert!(claims.admin);
    assert_eq!(claims.exp - claims.iat, 120);
    let verified = verify(
        &token::mint(&claims, &pair.private_pem).unwrap(),
        &pair.public_pem,
    );
    assert_eq!(verified, claims);

    let claims = token::claims_for(&mut conn, &UserRef::Id(plain), 60)
        .await
        .expect("claims for a user, by id");
    assert_eq!(
        (claims.email.as_str(), claims.admin),
        ("bea@example.com", false)
    );
}

#[tokio::test]
async fn tokens_are_refused_for_unknown_inactive_or_expired_users() {
    let db = TestDb::migrated().await;
    let mut conn = db.connect().await;
    let id = created_id(&mut conn, &ana()).await;

    let error = token::claims_for(&mut conn, &UserRef::Email("nobody@example.com".into()), 60)
        .await
        .expect_err("unknown email");
    assert!(
        format!("{error:#}").contains("there is no user with the email nobody@example.com"),
        "{error:#}"
    );
    let error = token::claims_for(&mut conn, &UserRef::Id(Uuid::now_v7()), 60)
        .await
        .expect_err("unknown id");
    assert!(
        format!("{error:#}").contains("there is no user with the id"),
        "{error:#}"
    );

    let set = |sql: &'static str| sqlx::query(sql).bind(id.to_string());
    set("UPDATE users SET active = false WHERE id = $1::uuid")
        .execute(&mut conn)
        .await
        .unwrap();
    let error = token::claims_for(&mut conn, &UserRef::Id(id), 60)
        .await
        .expect_err("inactive");
    assert!(format!("{error:#}").contains("is not active"), "{error:#}");

    set(
        "UPDATE users SET active = true, valid_from = now() - interval '2 years', \
         valid_thru = now() - interval '1 year' WHERE id = $1::uuid",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let error = token::claims_for(&mut conn, &UserRef::Id(id), 60)
        .await
        .expect_err("expired");
    assert!(
        format!("{error:#}").contains("no longer valid"),
        "{error:#}"
    );

    set("UPDATE users SET valid_from = now() + interval '1 day', \
         valid_thru = now() + interval '2 days' WHERE id = $1::uuid")
    .execute(&mut conn)
    .await
    .unwrap();
    let error = token::claims_for(&mut conn, &UserRef::Id(id), 60)
        .await
        .expect_err("not yet");
    assert!(format!("{error:#}").contains("not valid yet"), "{error:#}");
}

#[tokio::test]
async fn tokens_are_issued_no_earlier_than_tokens_valid_from() {
    let db = TestDb::migrated().await;
    let mut conn = db.connect().await;
    let id = created_id(&mut conn, &ana()).await;

    // Never set ('-infinity'): issued now.
    let before = chrono::Utc::now().timestamp();
    let claims = token::claims_for(&mut conn, &UserRef::Id(id), 60)
        .await
        .unwrap();
    assert!(claims.iat >= before && claims.iat <= chrono::Utc::now().timestamp());

    // Set a fraction into the future (as a credential change in this second
    // leaves it, seen from a clock a little behind): the token's iat is that
    // instant rounded up, never before it.
    let expected: i64 = sqlx::query_scalar(
        "UPDATE users SET tokens_valid_from = now() + interval '20.25 seconds' \
         WHERE id = $1::uuid RETURNING ceil(extract(epoch FROM tokens_valid_from))::int8",
    )
    .bind(id.to_string())
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let claims = token::claims_for(&mut conn, &UserRef::Id(id), 60)
        .await
        .unwrap();
    assert_eq!(claims.iat, expected);
    assert_eq!(claims.exp, expected + 60);
}
