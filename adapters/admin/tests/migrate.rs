mod common;

use std::time::{Duration, Instant};

use common::{applied_migrations, relation_exists, url_for, TestDb};
use spintemp_admin::migrate;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgConnectOptions;

fn app_versions() -> Vec<i64> {
    migrate::app_migrator().iter().map(|m| m.version).collect()
}

#[tokio::test]
async fn second_run_changes_nothing() {
    let db = TestDb::create().await;
    migrate::run(&db.url, None).await.expect("first run");
    let first = applied_migrations(&mut db.connect().await).await;
    assert_eq!(
        first.iter().map(|m| m.0).collect::<Vec<_>>(),
        app_versions()
    );

    migrate::run(&db.url, None).await.expect("second run");
    assert_eq!(applied_migrations(&mut db.connect().await).await, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_concurrent_runs_all_succeed() {
    let db = TestDb::create().await;
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { migrate::run(&url, Some(&url)).await })
        })
        .collect();
    for run in runs {
        run.await.expect("task").expect("concurrent migrate");
    }
    let applied = applied_migrations(&mut db.connect().await).await;
    let audit = migrate::audit_migrator();
    let audit_versions = audit.iter().map(|m| m.version);
    let mut expected: Vec<i64> = app_versions().into_iter().chain(audit_versions).collect();
    expected.sort();
    assert_eq!(applied.iter().map(|m| m.0).collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn app_schema_is_usable_afterwards() {
    let db = TestDb::create().await;
    migrate::run(&db.url, None).await.expect("migrate");
    let mut conn = db.connect().await;
    assert!(relation_exists(&mut conn, "customers").await);
    assert!(relation_exists(&mut conn, "audit_outbox").await);

    let rendered: serde_json::Value = sqlx::query_scalar(
        "INSERT INTO customers (id, code, name, valid_from, valid_thru, created_by, updated_by)
         VALUES ('0190f5f4-0000-7000-8000-000000000001', 'ducksrus', 'Ducks R Us',
                 '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z',
                 '0190f5f4-0000-7000-8000-0000000000aa', '0190f5f4-0000-7000-8000-0000000000aa')
         RETURNING customer_json(customers)",
    )
    .fetch_one(&mut conn)
    .await
    .expect("insert a customer and render it");
    assert_eq!(rendered["code"], "ducksrus");
    assert_eq!(rendered["validFrom"], "2026-01-01T00:00:00.000000Z");
    assert_eq!(rendered["version"], 1);
}

#[tokio::test]
async fn app_and_audit_migrations_share_one_migrations_table() {
    let db = TestDb::create().await;
    migrate::run(&db.url, Some(&db.url))
        .await
        .expect("first run");
    let versions: Vec<i64> = applied_migrations(&mut db.connect().await)
        .await
        .iter()
        .map(|m| m.0)
        .collect();
    let audit = migrate::audit_migrator();
    assert!(
        audit.iter().all(|m| versions.contains(&m.version)),
        "{versions:?}"
    );
    assert!(
        app_versions().iter().all(|v| versions.contains(v)),
        "{versions:?}"
    );

    // A version neither migrator knows (another tool's, or a newer release's)
    // must not stop either of them.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("900001_probe.sql"),
        "CREATE TABLE migrate_probe (id int);",
    )
    .unwrap();
    let mut foreign = Migrator::new(dir.path())
        .await
        .expect("load probe migration");
    foreign.set_ignore_missing(true);
    foreign
        .run(&mut db.connect().await)
        .await
        .expect("apply probe migration");

    migrate::run(&db.url, Some(&db.url))
        .await
        .expect("run beside a foreign migration");
    let after: Vec<i64> = applied_migrations(&mut db.connect().await)
        .await
        .iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(after.len(), versions.len() + 1, "{after:?}");
}

#[tokio::test]
async fn separate_audit_database_gets_only_the_audit_schema() {
    let app = TestDb::create().await;
    let audit = TestDb::create().await;
    migrate::run(&app.url, Some(&audit.url))
        .await
        .expect("migrate both");

    assert!(relation_exists(&mut app.connect().await, "customers").await);
    let mut audit_conn = audit.connect().await;
    assert!(!relation_exists(&mut audit_conn, "customers").await);
    assert!(relation_exists(&mut audit_conn, "_sqlx_migrations").await);
    let audit_versions: Vec<i64> = applied_migrations(&mut audit_conn)
        .await
        .iter()
        .map(|m| m.0)
        .collect();
    assert!(
        audit_versions.iter().all(|v| *v >= 1001),
        "{audit_versions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_database_if_missing_creates_it_once() {
    let db = TestDb::absent();
    assert!(!db.exists().await);
    migrate::create_database_if_missing(&db.url)
        .await
        .expect("create");
    assert!(db.exists().await);
    migrate::create_database_if_missing(&db.url)
        .await
        .expect("already there");
    migrate::run(&db.url, None)
        .await
        .expect("migrate the new database");

    let raced = TestDb::absent();
    let creators: Vec<_> = (0..4)
        .map(|_| {
            let url = raced.url.clone();
            tokio::spawn(async move { migrate::create_database_if_missing(&url).await })
        })
        .collect();
    for creator in creators {
        creator.await.expect("task").expect("concurrent create");
    }
    assert!(raced.exists().await);
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let missing = TestDb::absent();
    let started = Instant::now();
    let error = migrate::run_with(&missing.url, None, Duration::from_secs(30))
        .await
        .expect_err("database does not exist");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited {:?}",
        started.elapsed()
    );
    assert!(format!("{error:#}").contains(&missing.name), "{error:#}");
}

#[tokio::test]
async fn unreachable_server_is_retried_until_the_deadline() {
    let url = format!(
        "postgres://postgres:s3cret@127.0.0.1:{}/x?sslmode=disable",
        closed_port()
    );
    let started = Instant::now();
    let error = migrate::run_with(&url, None, Duration::from_millis(1500))
        .await
        .expect_err("nothing listens");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "gave up after {waited:?}"
    );
    assert!(waited < Duration::from_secs(6), "waited {waited:?}");
    assert!(!format!("{error:#}").contains("s3cret"), "{error:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_a_server_that_comes_up_late() {
    let db = TestDb::create().await;
    let port = closed_port();
    let server: PgConnectOptions = db.url.parse().unwrap();
    let target = format!("{}:{}", server.get_host(), server.get_port());
    let late_url = format!(
        "postgres://{}@127.0.0.1:{port}/{}?sslmode=disable",
        server.get_username(),
        db.name
    );

    // A TCP relay to the real server that starts listening only after a while.
    let relay = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind relay");
        loop {
            let (mut inbound, _) = listener.accept().await.expect("accept");
            let target = target.clone();
            tokio::spawn(async move {
                let mut outbound = tokio::net::TcpStream::connect(&target)
                    .await
                    .expect("reach postgres");
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    let started = Instant::now();
    let outcome = migrate::run_with(&late_url, None, Duration::from_secs(20)).await;
    relay.abort();
    outcome.expect("migrate once the server answers");
    assert!(started.elapsed() >= Duration::from_millis(1200));
    assert!(relation_exists(&mut db.connect().await, "customers").await);
}

#[tokio::test]
async fn a_url_without_a_database_is_refused_for_creation() {
    let url = url_for("").replace("/?", "?");
    assert!(migrate::create_database_if_missing(&url).await.is_err());
}

/// A loopback port nothing listens on (until a test binds it itself).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
