//! GET /api/audit over an audit store of its own, made as audit-relay makes
//! it: on TimescaleDB (`AUDIT_TEST_STORE_URL`, as for the relay's tests) a
//! hypertable of weekly chunks, compressed with the relay's settings; on
//! plain Postgres (the default) a table. Every page of a long history comes
//! back in order, and on TimescaleDB a deep page reads only the chunks at or
//! before its cursor: the newer ones are neither scanned nor decompressed.

use api_tests::{block_on, db_url_for, TestApp};
use audit_relay::store::{self, Policies};
use domain::audit::{AuditCursor, AuditQuery};
use domain::entity::SqlValue;
use serde_json::Value;
use sqlx::postgres::PgPool;
use sqlx::{Connection, PgConnection};
use std::io::Write;
use uuid::Uuid;

const DAYS: i32 = 63;
const EVENTS_PER_DAY: i32 = 8;
const PAGE: usize = 40;

/// A database of its own on the audit store server, dropped afterwards.
struct Store {
    server: String,
    name: String,
    url: String,
    pool: PgPool,
}

impl Store {
    async fn create() -> Store {
        let server_url =
            std::env::var("AUDIT_TEST_STORE_URL").unwrap_or_else(|_| db_url_for("postgres"));
        let name = format!("audit_chunks_{}", Uuid::now_v7().simple());
        let url = with_database(&server_url, &name);
        let mut admin = PgConnection::connect(&server_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the audit store server {server_url}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let pool = PgPool::connect(&url).await.unwrap();
        store::migrate(&pool).await.unwrap();
        Store {
            server: server_url,
            name,
            url,
            pool,
        }
    }

    /// The TimescaleDB version, when audit_events is a hypertable.
    async fn timescale_version(&self) -> Option<String> {
        let version: Option<String> =
            sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
                .fetch_optional(&self.pool)
                .await
                .unwrap();
        version?;
        sqlx::query_scalar(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'
               AND EXISTS (SELECT 1 FROM timescaledb_information.hypertables
                           WHERE hypertable_name = 'audit_events')",
        )
        .fetch_optional(&self.pool)
        .await
        .unwrap()
    }

    async fn drop(self) {
        self.pool.close().await;
        if let Ok(mut admin) = PgConnection::connect(&self.server).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            .await;
        }
    }
}

/// `url` with its database replaced by `name` (and its query kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}?sslmode=disable"),
    }
}

/// The chunks of a TimescaleDB store, each with its lower bound in µs.
async fn chunks(store: &PgPool) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT chunk_name::text, (extract(epoch FROM range_start) * 1000000)::int8
         FROM timescaledb_information.chunks WHERE hypertable_name = 'audit_events'
         ORDER BY range_start",
    )
    .fetch_all(store)
    .await
    .unwrap()
}

/// The chunks the statement kit sends for `query` actually read: relations
/// named `_hyper_…` in plan nodes that ran at least once.
async fn chunks_read(store: &PgPool, query: &AuditQuery) -> Vec<String> {
    let (sql, binds) = kit::audit::list_statement(query);
    let explain = format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}");
    let mut statement = sqlx::query_scalar::<_, Value>(&explain);
    for value in binds.values() {
        statement = match value {
            SqlValue::Int(i) => statement.bind(*i),
            SqlValue::Uuid(u) => statement.bind(*u),
            SqlValue::Text(s) => statement.bind(s.clone()),
            other => panic!("this test binds no {other:?}"),
        };
    }
    let plan = statement.fetch_one(store).await.unwrap();
    let mut read = Vec::new();
    collect_chunks_read(&plan[0]["Plan"], &mut read);
    read.sort();
    read.dedup();
    read
}

fn collect_chunks_read(node: &Value, read: &mut Vec<String>) {
    let ran = node["Actual Loops"].as_f64().unwrap_or(0.0) > 0.0;
    if let Some(relation) = node["Relation Name"].as_str() {
        if ran && relation.starts_with("_hyper_") {
            read.push(relation.to_owned());
        }
    }
    for child in node["Plans"].as_array().into_iter().flatten() {
        collect_chunks_read(child, read);
    }
}

#[test]
fn every_page_of_a_long_history_comes_back_and_a_deep_page_reads_only_older_chunks() {
    block_on(async {
        let store = Store::create().await;
        let timescale = store.timescale_version().await;
        // Past the harness's capture, so that a passing run says it too.
        let _ = writeln!(
            std::io::stderr(),
            "audit store tests: {}",
            match &timescale {
                Some(v) => format!("TimescaleDB {v}: chunk exclusion on compressed chunks tested"),
                None => "plain PostgreSQL: chunk exclusion NOT tested (set AUDIT_TEST_STORE_URL \
                         to a TimescaleDB server to test it)"
                    .to_owned(),
            }
        );
        sqlx::query(
            "INSERT INTO audit_events (id, occurred_at, object_type, object_id, action, operation, actor, request_id)
             SELECT gen_random_uuid(),
                    now() - make_interval(days => d, mins => 10 * e),
                    'customer', gen_random_uuid(), 'update', 'customers-update', gen_random_uuid(),
                    'req-' || d || '-' || e
             FROM generate_series(0, $1 - 1) AS d, generate_series(0, $2 - 1) AS e",
        )
        .bind(DAYS)
        .bind(EVENTS_PER_DAY)
        .execute(&store.pool)
        .await
        .unwrap();
        if timescale.is_some() {
            // The relay's compression settings (with a policy too old to
            // touch any of these chunks, so that its job, which runs at
            // once, does not race the next statement), then every chunk
            // compressed now.
            store::apply_policies(
                &store.pool,
                &Policies {
                    retention: None,
                    compress_after: Some("3650 days".parse().unwrap()),
                },
            )
            .await
            .unwrap();
            sqlx::query("SELECT count(compress_chunk(c, if_not_compressed => true)) FROM show_chunks('audit_events') c")
                .execute(&store.pool)
                .await
                .unwrap();
        }

        let reader = spintemp_admin::roles::by_variable("audit_db_reader_url").unwrap();
        let reader_url =
            spintemp_admin::roles::login_url(&store.url, reader.default_login, None).unwrap();
        spintemp_admin::migrate::provision_logins(
            &store.url,
            Some(&store.url),
            &[(reader, reader_url.clone())],
            spintemp_admin::roles::DEFAULT_IDLE_SESSION_SECONDS,
        )
        .await
        .unwrap();
        let app = TestApp::start(&[
            ("audit_db_reader_url", &reader_url),
            ("audit_db_host", &api_tests::host_port(&store.url)),
        ])
        .await
        .expect("starting the app on the audit store");
        let (_, admin) = app.token(true).await;
        let expected: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM audit_events ORDER BY occurred_at DESC, id DESC")
                .fetch_all(&store.pool)
                .await
                .unwrap();
        assert_eq!(expected.len(), (DAYS * EVENTS_PER_DAY) as usize);

        let mut seen = Vec::new();
        let mut cursors = Vec::new();
        let mut path = format!("/api/audit?limit={PAGE}");
        loop {
            let res = app.call("GET", &path).bearer(&admin).send().await;
            assert_eq!(
                res.status,
                200,
                "{path}: {}",
                String::from_utf8_lossy(&res.body)
            );
            let body = res.json();
            let items = body["items"].as_array().unwrap();
            assert!(items.len() <= PAGE);
            seen.extend(
                items
                    .iter()
                    .map(|e| Uuid::parse_str(e["id"].as_str().unwrap()).unwrap()),
            );
            match body["nextCursor"].as_str() {
                Some(cursor) => {
                    cursors.push(cursor.to_owned());
                    path = format!("/api/audit?limit={PAGE}&cursor={cursor}");
                }
                None => break,
            }
        }
        assert_eq!(
            seen, expected,
            "the pages, in order, are the whole history once"
        );

        if timescale.is_some() {
            let all = chunks(&store.pool).await;
            assert!(all.len() >= 9, "the history spans {} chunks", all.len());
            // Two thirds of the way down the history: several chunks are newer.
            let deep = &cursors[cursors.len() * 2 / 3];
            let at = AuditCursor::decode(deep).unwrap().occurred_at_micros;
            let query = AuditQuery::parse(&format!("limit={PAGE}&cursor={deep}")).unwrap();
            let read = chunks_read(&store.pool, &query).await;
            let newer: Vec<&String> = all
                .iter()
                .filter(|(_, start)| *start > at)
                .map(|(name, _)| name)
                .collect();
            assert!(
                newer.len() >= 3,
                "the cursor is {} chunks deep",
                newer.len()
            );
            assert!(!read.is_empty(), "the deep page read no chunk at all");
            let wrongly_read: Vec<&String> = read.iter().filter(|c| newer.contains(c)).collect();
            assert!(
                wrongly_read.is_empty(),
                "a deep page read chunks newer than its cursor: {wrongly_read:?} (read {read:?})"
            );
        }

        drop(app);
        store.drop().await;
    });
}
