//! `seed`, through the library, on a real database.
mod common;

use common::{count, events, TestDb};
use spintemp_admin::seed::{self, Report, Tally};
use sqlx::PgConnection;

const PASSWORD: &str = "quack quack quack";

async fn id_of(conn: &mut PgConnection, email: &str) -> String {
    sqlx::query_scalar("SELECT id::text FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(conn)
        .await
        .expect("the demo user")
}

#[tokio::test]
async fn seeds_the_demo_data_once() {
    let db = TestDb::migrated().await;
    let mut conn = db.connect().await;

    let mut asked = 0;
    let first = seed::run(&mut conn, || {
        asked += 1;
        Ok(PASSWORD.to_owned())
    })
    .await
    .expect("first seed");
    assert_eq!(asked, 1, "one password for all the demo users");
    assert_eq!(
        first,
        Report {
            users: Tally {
                created: 3,
                existing: 0
            },
            customers: Tally {
                created: 5,
                existing: 0
            },
            products: Tally {
                created: 6,
                existing: 0
            },
            promotions: Tally {
                created: 3,
                existing: 0
            },
        }
    );
    assert_eq!(count(&mut conn, "users").await, 3);
    assert_eq!(count(&mut conn, "customers").await, 5);

    // Super Duck is the administrator, the others are not; all are active
    // and valid now, and every one has the password.
    let users: Vec<(String, String, bool, bool, bool, String)> = sqlx::query_as(
        "SELECT email, name, admin, active, valid_from <= now() AND valid_thru > now(), password_hash \
         FROM users ORDER BY email",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let summary: Vec<_> = users
        .iter()
        .map(|(email, name, admin, active, valid, _)| {
            (email.as_str(), name.as_str(), *admin, *active, *valid)
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("ant@mymail.com", "Mighty Ant", false, true, true),
            ("cow@mymail.com", "Awesome Cow", false, true, true),
            ("duck@mymail.com", "Super Duck", true, true, true),
        ]
    );
    assert!(users
        .iter()
        .all(|u| domain::password::verify(PASSWORD, &u.5)));

    // The customers are Super Duck's, and so are their events.
    let duck = id_of(&mut conn, "duck@mymail.com").await;
    let customers: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT code, name, created_by::text, updated_by::text FROM customers ORDER BY code",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let codes: Vec<(&str, &str)> = customers
        .iter()
        .map(|c| (c.0.as_str(), c.1.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            ("canard", "Canard Oui Oui"),
            ("ducksrus", "Ducks R Us"),
            ("ducksrusb", "Ducks R Us Bis"),
            ("ducksrusd", "Ducks R Us Dist"),
            ("patoloco", "Pato Loco Inc"),
        ]
    );
    assert!(customers.iter().all(|c| c.2 == duck && c.3 == duck));

    // The promotions name the demo customers and products, discounts
    // exact, each a draft.
    let promotions: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT p.name, c.code, p.approval_status, \
           (SELECT string_agg(x.code || ':' || (d->>'type') || ':' || (d->>'value'), ',' ORDER BY ln) \
              FROM jsonb_array_elements(p.products) WITH ORDINALITY AS l(line, ln) \
              JOIN products x ON x.id = (l.line->>'productId')::uuid, \
              jsonb_array_elements(l.line->'discounts') d) \
         FROM promotions p JOIN customers c ON c.id = p.customer_id ORDER BY p.name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let promotions: Vec<(&str, &str, &str, &str)> = promotions
        .iter()
        .map(|p| (p.0.as_str(), p.1.as_str(), p.2.as_str(), p.3.as_str()))
        .collect();
    assert_eq!(
        promotions,
        [
            (
                "Promo1",
                "ducksrus",
                "draft",
                "switch:percent:10.00,tele:amount:25.00"
            ),
            (
                "Promo2",
                "patoloco",
                "draft",
                "fridge:percent:5.50,appli:percent:3.00"
            ),
            (
                "Promo3",
                "canard",
                "draft",
                "elec:amount:12.50,intamd:percent:7.00"
            ),
        ]
    );

    // Exactly one create event per row, all of one run.
    let events = events(&mut conn).await;
    assert_eq!(events.len(), 3 + 5 + 6 + 3, "{events:?}");
    let mut objects: Vec<(String, String)> = sqlx::query_as(
        "SELECT 'user', id::text FROM users UNION ALL SELECT 'customer', id::text FROM customers \
         UNION ALL SELECT 'product', id::text FROM products \
         UNION ALL SELECT 'promotion', id::text FROM promotions",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut evented: Vec<(String, String)> = events
        .iter()
        .map(|e| (e.object_type.clone(), e.object_id.clone()))
        .collect();
    objects.sort();
    evented.sort();
    assert_eq!(evented, objects);
    for event in &events {
        assert_eq!(
            (event.action.as_str(), event.operation.as_str()),
            ("create", "spintemp-admin")
        );
        assert!(event.before.is_none() && event.after.is_some());
        assert_eq!(event.request_id, events[0].request_id);
        assert!(event.request_id.starts_with("spintemp-admin-"));
        if event.object_type != "user" {
            assert_eq!(event.actor, duck);
        } else {
            assert_eq!(event.actor, event.object_id, "a user creates itself");
        }
    }

    // Again: nothing changes, and no password is needed.
    let second = seed::run(&mut conn, || panic!("the password was asked for"))
        .await
        .expect("second seed");
    assert_eq!(
        second,
        Report {
            users: Tally {
                created: 0,
                existing: 3
            },
            customers: Tally {
                created: 0,
                existing: 5
            },
            products: Tally {
                created: 0,
                existing: 6
            },
            promotions: Tally {
                created: 0,
                existing: 3
            },
        }
    );
    assert_eq!(second.to_string().lines().count(), 1);
    assert_eq!(count(&mut conn, "users").await, 3);
    assert_eq!(count(&mut conn, "customers").await, 5);
    assert_eq!(count(&mut conn, "products").await, 6);
    assert_eq!(count(&mut conn, "promotions").await, 3);
    assert_eq!(
        count(&mut conn, "audit_outbox").await,
        3 + 5 + 6 + 3,
        "no new events"
    );
}

#[tokio::test]
async fn rows_already_there_are_left_alone() {
    let db = TestDb::migrated().await;
    let mut conn = db.connect().await;
    // A customer whose code differs only in case, made by someone else.
    let someone = "0190f5f4-0000-7000-8000-0000000000aa";
    sqlx::query(
        "INSERT INTO customers (id, code, name, valid_from, valid_thru, created_by, updated_by) \
         VALUES ('0190f5f4-0000-7000-8000-000000000001', 'DucksRUs', 'Mine', now(), \
                 now() + interval '1 day', $1::uuid, $1::uuid)",
    )
    .bind(someone)
    .execute(&mut conn)
    .await
    .unwrap();

    let report = seed::run(&mut conn, || Ok(PASSWORD.to_owned()))
        .await
        .unwrap();
    assert_eq!(
        (report.customers.created, report.customers.existing),
        (4, 1)
    );
    let (name, created_by): (String, String) = sqlx::query_as(
        "SELECT name, created_by::text FROM customers WHERE lower(code) = 'ducksrus'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!((name.as_str(), created_by.as_str()), ("Mine", someone));
    assert_eq!(count(&mut conn, "audit_outbox").await, 3 + 4 + 6 + 3);
}

#[tokio::test]
async fn a_bad_seed_password_creates_nothing() {
    let db = TestDb::migrated().await;
    let mut conn = db.connect().await;
    let error = seed::run(&mut conn, || Ok("short".to_owned()))
        .await
        .expect_err("too short");
    assert!(
        format!("{error:#}").contains("the password must be at least 8"),
        "{error:#}"
    );
    assert_eq!(count(&mut conn, "users").await, 0);
    assert_eq!(count(&mut conn, "customers").await, 0);
    assert_eq!(count(&mut conn, "audit_outbox").await, 0);
}
