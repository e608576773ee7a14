//! Throwaway databases on the real Postgres, one per test, dropped afterwards.
#![allow(dead_code)] // each test binary uses a different part of this module

use sqlx::{Connection, PgConnection};

/// Server under test; override with SPINTEMP_TEST_PG (no database, no query).
pub fn server_url() -> String {
    std::env::var("SPINTEMP_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn url_for(database: &str) -> String {
    format!("{}/{database}?sslmode=disable", server_url())
}

pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// A unique name whose database does not exist yet; it is dropped with
    /// the guard if the code under test creates it.
    pub fn absent() -> TestDb {
        let name = format!("spintemp_admin_{}", uuid::Uuid::now_v7().simple());
        let url = url_for(&name);
        TestDb { name, url }
    }

    pub async fn create() -> TestDb {
        let db = TestDb::absent();
        let mut conn = maintenance().await;
        sqlx::raw_sql(&format!("CREATE DATABASE \"{}\"", db.name))
            .execute(&mut conn)
            .await
            .expect("create test database");
        db
    }

    /// A new database with the app schema (app and audit store in one, as
    /// a laptop runs them).
    pub async fn migrated() -> TestDb {
        let db = TestDb::absent();
        spintemp_admin::migrate::create_database_if_missing(&db.url)
            .await
            .expect("create test database");
        spintemp_admin::migrate::run(&db.url, Some(&db.url))
            .await
            .expect("migrate test database");
        db
    }

    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .expect("connect to test database")
    }

    pub async fn exists(&self) -> bool {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&self.name)
            .fetch_one(&mut maintenance().await)
            .await
            .expect("query pg_database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let statement = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        // Drop runs inside the test's runtime, which cannot be blocked on;
        // a thread with its own runtime can.
        let outcome = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime")
                .block_on(async move {
                    sqlx::raw_sql(&statement)
                        .execute(&mut maintenance().await)
                        .await
                        .map(|_| ())
                })
        })
        .join();
        if !matches!(outcome, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

pub async fn maintenance() -> PgConnection {
    PgConnection::connect(&url_for("postgres"))
        .await
        .expect("connect to the postgres database")
}

/// Rows of `_sqlx_migrations`: (version, checksum, installed_on as text).
pub async fn applied_migrations(conn: &mut PgConnection) -> Vec<(i64, Vec<u8>, String)> {
    sqlx::query_as(
        "SELECT version, checksum, installed_on::text FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(conn)
    .await
    .expect("read _sqlx_migrations")
}

pub async fn relation_exists(conn: &mut PgConnection, name: &str) -> bool {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(name)
        .fetch_one(conn)
        .await
        .expect("to_regclass")
}

/// Rows of `table`.
pub async fn count(conn: &mut PgConnection, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(conn)
        .await
        .expect("count rows")
}

/// One `audit_outbox` row, as text where the type has no sqlx decoding here.
#[derive(Debug, sqlx::FromRow)]
pub struct Event {
    pub object_type: String,
    pub object_id: String,
    pub action: String,
    pub operation: String,
    pub actor: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub request_id: String,
}

/// The outbox, oldest first.
pub async fn events(conn: &mut PgConnection) -> Vec<Event> {
    sqlx::query_as(
        "SELECT object_type, object_id::text, action, operation, actor::text, \
                before::text, after::text, request_id \
         FROM audit_outbox ORDER BY seq",
    )
    .fetch_all(conn)
    .await
    .expect("read audit_outbox")
}
