//! Least privilege down to the database: which Postgres role each component
//! connects as, read off spin.toml, and what each role can do, tried against
//! the real, migrated database. The rest of the suite runs every operation
//! through these roles (api_tests::role_variables), so a role that lacks a
//! right its statements need fails there; here, a role that has one more
//! than its operation needs fails.

use std::collections::BTreeSet;
use std::time::Duration;

use api_tests::{app, block_on, workspace_root, TestApp};
use spintemp_admin::roles::{self, ROLES};
use spintemp_host::manifest::Manifest;
use sqlx::{Connection, PgConnection};

const READER: &str = "spintemp_reader";
const CUSTOMERS: &str = "spintemp_customers_writer";
const PRODUCTS: &str = "spintemp_products_writer";
const PROMOTIONS: &str = "spintemp_promotions_writer";
const AUTH: &str = "spintemp_auth";
const RELAY: &str = "spintemp_relay";
const AUDIT_READER: &str = "spintemp_audit_reader";

/// The group a component's operation calls for: reads read, each resource
/// family writes its own tables, and only the flows that handle credentials
/// (and the users' own updates and deletes) reach them.
fn expected_group(component: &str) -> &'static str {
    let (family, operation) = component.split_once('-').unwrap_or((component, ""));
    match (family, operation) {
        ("audit", _) => AUDIT_READER,
        ("health", _) | (_, "list" | "get") | ("auth", "me") => READER,
        ("customers", _) => CUSTOMERS,
        ("products", _) => PRODUCTS,
        ("promotions", _) => PROMOTIONS,
        ("auth" | "users", _) => AUTH,
        _ => panic!("{component}: which role should it have? (tests/api/tests/suite/roles.rs)"),
    }
}

#[test]
fn every_component_connects_as_the_role_of_its_operation() {
    let manifest: Manifest =
        toml::from_str(&std::fs::read_to_string(workspace_root().join("spin.toml")).unwrap())
            .unwrap();
    let role_variables: BTreeSet<&str> = ROLES
        .iter()
        .filter(|r| r.in_spin_toml)
        .map(|r| r.variable)
        .collect();
    // No application variable is a database URL but a role's: nothing can
    // hand a component the owner's.
    for name in manifest.variables.keys() {
        assert!(
            !name.ends_with("_url")
                || role_variables.contains(name.as_str())
                || name == "redis_url",
            "spin.toml's variable {name} looks like a database URL that is no role's"
        );
    }
    let mut connecting = 0;
    for (id, component) in &manifest.component {
        for (name, template) in &component.variables {
            if name != "db_url" && name != "audit_db_url" {
                continue;
            }
            connecting += 1;
            let variable = template
                .trim()
                .strip_prefix("{{")
                .and_then(|t| t.strip_suffix("}}"))
                .map(str::trim)
                .unwrap_or_else(|| panic!("{id}: {name} is {template:?}, not one role's variable"));
            let role = roles::by_variable(variable).unwrap_or_else(|| {
                panic!("{id}: {name} comes from {variable}, which is no role's")
            });
            assert_eq!(
                role.group,
                expected_group(id),
                "{id} connects as {} ({variable})",
                role.group
            );
        }
    }
    assert!(
        connecting >= 25,
        "only {connecting} components connect to Postgres"
    );
}

/// What each statement needs, and who may run it. The statements stand for
/// what the components send (kit::crud, kit::sessions, kit::login, the
/// relay's claim) and for what no component ever should.
const PROBES: &[(&str, &[&str])] = &[
    // Reads.
    (
        "SELECT api_json FROM customers",
        &[READER, CUSTOMERS, PROMOTIONS],
    ),
    (
        "SELECT api_json FROM products",
        &[READER, PRODUCTS, PROMOTIONS],
    ),
    ("SELECT api_json FROM promotions", &[READER, PROMOTIONS]),
    (
        "SELECT count(*) FROM promotions WHERE customer_id IS NULL",
        &[READER, CUSTOMERS, PROMOTIONS],
    ),
    (
        "SELECT product_id FROM promotion_products",
        &[READER, PRODUCTS, PROMOTIONS],
    ),
    ("SELECT api_json FROM users", &[READER, AUTH]),
    (
        "SELECT id FROM users WHERE active AND tokens_valid_from < now()",
        &[READER, CUSTOMERS, PRODUCTS, PROMOTIONS, AUTH],
    ),
    // Secrets.
    ("SELECT password_hash FROM users", &[AUTH]),
    ("SELECT * FROM users", &[AUTH]),
    ("SELECT token_hash FROM refresh_tokens", &[AUTH]),
    // Writes, each family its own.
    (
        "INSERT INTO customers (id) SELECT id FROM customers WHERE false",
        &[CUSTOMERS],
    ),
    ("UPDATE customers SET name = name WHERE false", &[CUSTOMERS]),
    ("DELETE FROM customers WHERE false", &[CUSTOMERS]),
    (
        "INSERT INTO products (id) SELECT id FROM products WHERE false",
        &[PRODUCTS],
    ),
    ("UPDATE products SET name = name WHERE false", &[PRODUCTS]),
    ("DELETE FROM products WHERE false", &[PRODUCTS]),
    (
        "UPDATE promotions SET approval_status = approval_status WHERE false",
        &[PROMOTIONS],
    ),
    ("DELETE FROM promotions WHERE false", &[PROMOTIONS]),
    ("DELETE FROM promotion_products WHERE false", &[PROMOTIONS]),
    ("UPDATE users SET admin = true WHERE false", &[AUTH]),
    (
        "UPDATE users SET password_hash = password_hash WHERE false",
        &[AUTH],
    ),
    ("DELETE FROM users WHERE false", &[AUTH]),
    (
        "UPDATE refresh_tokens SET revoked_at = NULL WHERE false",
        &[AUTH],
    ),
    // The outbox: writers add events; only the relay reads and removes them;
    // nobody changes one.
    (
        "INSERT INTO audit_outbox (id) SELECT gen_random_uuid() WHERE false",
        &[CUSTOMERS, PRODUCTS, PROMOTIONS, AUTH],
    ),
    ("SELECT before, after FROM audit_outbox", &[RELAY]),
    (
        "DELETE FROM audit_outbox WHERE seq IN \
         (SELECT seq FROM audit_outbox ORDER BY seq LIMIT 10 FOR UPDATE SKIP LOCKED)",
        &[RELAY],
    ),
    ("UPDATE audit_outbox SET operation = 'forged'", &[]),
    ("UPDATE audit_outbox SET after = NULL, before = NULL", &[]),
    // The relay's UPDATE (seq), there for its FOR UPDATE: it can renumber
    // the row the set-up added (an identity column takes DEFAULT alone),
    // which is less than the DELETE it must have anyway.
    ("UPDATE audit_outbox SET seq = DEFAULT", &[RELAY]),
    // The audit store (here the same database).
    ("SELECT after FROM audit_events", &[AUDIT_READER]),
    (
        "INSERT INTO audit_events (id) SELECT gen_random_uuid() WHERE false",
        &[],
    ),
    ("DELETE FROM audit_events WHERE false", &[]),
    // Nobody makes schema.
    ("CREATE TABLE probe_made (id int)", &[]),
];

/// Runs `statement` as `group` in a savepoint of `conn`'s transaction:
/// whether Postgres allowed it. Any refusal but a privilege's fails the test.
async fn allowed(conn: &mut PgConnection, group: &str, statement: &str) -> bool {
    sqlx::query("SAVEPOINT probe")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(&format!("SET LOCAL ROLE {group}"))
        .execute(&mut *conn)
        .await
        .unwrap();
    let outcome = sqlx::query(statement).execute(&mut *conn).await;
    sqlx::query("ROLLBACK TO SAVEPOINT probe")
        .execute(&mut *conn)
        .await
        .unwrap();
    match outcome {
        Ok(_) => true,
        Err(e) if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("42501") => false,
        Err(e) => panic!("{group}: {statement}: {e}"),
    }
}

#[test]
fn each_role_can_run_its_operations_statements_and_nothing_else() {
    block_on(async {
        let app = app().await;
        let mut conn = app.db.acquire().await.unwrap().detach();
        let mut tx = conn.begin().await.unwrap();
        // One outbox row, so that a statement that would change one has one
        // to change (rolled back with everything else).
        sqlx::query(
            "INSERT INTO audit_outbox (id, object_type, object_id, action, operation, actor, request_id) \
             VALUES (gen_random_uuid(), 'customer', gen_random_uuid(), 'create', 'probe', gen_random_uuid(), 'probe')",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        let mut wrong = Vec::new();
        for (statement, who) in PROBES {
            for role in ROLES {
                let may = who.contains(&role.group);
                if allowed(&mut tx, role.group, statement).await != may {
                    wrong.push(format!(
                        "{} {} run: {statement}",
                        role.group,
                        if may { "cannot" } else { "can" }
                    ));
                }
            }
        }
        tx.rollback().await.unwrap();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    })
}

#[test]
fn groups_cannot_log_in_and_each_login_holds_one_group() {
    block_on(async {
        let app = app().await;
        for role in ROLES {
            let (login, superuser): (bool, bool) =
                sqlx::query_as("SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = $1")
                    .bind(role.group)
                    .fetch_one(&app.db)
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", role.group));
            assert!(
                !login && !superuser,
                "{}: login {login}, superuser {superuser}",
                role.group
            );
            let groups: Vec<String> = sqlx::query_scalar(
                "SELECT g.rolname::text FROM pg_roles g, pg_roles l \
                 WHERE l.rolname = $1 AND g.oid <> l.oid AND pg_has_role(l.oid, g.oid, 'MEMBER') \
                 ORDER BY 1",
            )
            .bind(role.default_login)
            .fetch_all(&app.db)
            .await
            .unwrap();
            assert_eq!(
                groups,
                [role.group],
                "{} is a member of {groups:?}",
                role.default_login
            );
        }
    })
}

#[test]
fn postgres_closes_idle_sessions_of_the_app_roles_and_the_app_opens_new_ones() {
    const DB: &str = "spintemp_test_idle_sessions";
    block_on(async {
        let app = TestApp::start_in(DB, &[]).await.unwrap();
        let (_, token) = app.token(false).await;
        let reader_sessions = || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND usename = $2",
            )
            .bind(DB)
            .bind(roles::by_variable("db_reader_url").unwrap().default_login)
            .fetch_one(&app.db)
            .await
            .unwrap()
        };
        let list = || app.call("GET", "/api/customers").bearer(&token).send();
        assert_eq!(list().await.status, 200);
        assert!(
            reader_sessions().await > 0,
            "the list read through no reader session"
        );
        tokio::time::sleep(Duration::from_secs(
            u64::from(roles::DEFAULT_IDLE_SESSION_SECONDS) + 2,
        ))
        .await;
        assert_eq!(
            reader_sessions().await,
            0,
            "Postgres left the idle sessions open"
        );
        // The pool finds its connection closed and opens another.
        for _ in 0..3 {
            assert_eq!(list().await.status, 200);
        }
        // The relay's role has no such limit: its pool closes its own.
        let settings: Vec<(String, Option<Vec<String>>)> = sqlx::query_as(
            "SELECT r.rolname::text, s.setconfig FROM pg_roles r \
             LEFT JOIN pg_db_role_setting s ON s.setrole = r.oid AND s.setdatabase = 0 \
             WHERE r.rolname = ANY($1)",
        )
        .bind(ROLES.iter().map(|r| r.default_login).collect::<Vec<_>>())
        .fetch_all(&app.db)
        .await
        .unwrap();
        for role in ROLES {
            let config = settings
                .iter()
                .find(|(name, _)| name == role.default_login)
                .and_then(|(_, config)| config.clone())
                .unwrap_or_default();
            let limited = config.contains(&format!(
                "idle_session_timeout={}s",
                roles::DEFAULT_IDLE_SESSION_SECONDS
            ));
            assert_eq!(
                limited, role.in_spin_toml,
                "{}: {config:?}",
                role.default_login
            );
        }
    })
}
