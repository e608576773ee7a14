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

async fn maintenance() -> PgConnection {
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
