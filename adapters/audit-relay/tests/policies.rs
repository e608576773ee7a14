//! The store's TimescaleDB policies: bad flags stop the relay before it
//! touches anything, restarts leave matching jobs alone, and the policy step
//! never holds up relaying.
//!
//! The store server is `AUDIT_TEST_STORE_URL` (a TimescaleDB, where there is
//! one) or the app server; the first line of output says which, and on plain
//! Postgres what these tests then cannot cover.

mod common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use audit_relay::metrics::Stage;
use audit_relay::{store, Config, PolicyAge};
use common::*;
use sqlx::postgres::PgPool;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// Old enough to sit in chunks that a short retention would drop.
const HISTORY_DAYS: i32 = 60;

/// Fills a migrated store with one event a day for `HISTORY_DAYS` days, so
/// that on TimescaleDB it spans several chunks.
async fn fill_history(store: &PgPool) -> i64 {
    store::migrate(store).await.unwrap();
    sqlx::query(
        "INSERT INTO audit_events (id, occurred_at, object_type, object_id, action, operation, actor, request_id)
         SELECT gen_random_uuid(), now() - make_interval(days => d), 'customer', gen_random_uuid(),
                'update', 'customers-update', gen_random_uuid(), 'req-' || d
         FROM generate_series(0, $1 - 1) AS d",
    )
    .bind(HISTORY_DAYS)
    .execute(store)
    .await
    .unwrap();
    sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(store)
        .await
        .unwrap()
}

/// `(job_id, proc_name, config ->> age key)` of audit_events's jobs; empty on
/// plain Postgres.
async fn jobs(store: &PgPool) -> Vec<(i32, String, Option<String>)> {
    if store_kind().await == StoreKind::Plain {
        return Vec::new();
    }
    sqlx::query_as(
        "SELECT job_id, proc_name::text,
                COALESCE(config->>'drop_after', config->>'compress_after')
         FROM timescaledb_information.jobs
         WHERE hypertable_name = 'audit_events' ORDER BY proc_name",
    )
    .fetch_all(store)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_policy_flags_stop_the_relay_at_start_naming_the_flag_and_delete_nothing() {
    let kind = store_kind().await;
    let app = TestDatabase::with_app_schema("badflag_app").await;
    let audit = TestDatabase::store("badflag_store").await;
    let store_pool = audit.pool(2).await;
    let events = fill_history(&store_pool).await;

    for (args, env, flag) in [
        (&["--retention", "400"][..], None, "--retention"),
        (&["--retention", "400 dayz"], None, "--retention"),
        (&["--compress-after", "-1"], None, "--compress-after"),
        (&["--retention", "6 hours"], None, "--retention"),
        (&[], Some(("AUDIT_RELAY_RETENTION", "400")), "--retention"),
        (
            &[],
            Some(("AUDIT_RELAY_COMPRESS_AFTER", "1 fortnight")),
            "--compress-after",
        ),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_audit-relay"));
        command
            .args([
                "--database-url",
                &app.url(),
                "--audit-database-url",
                &audit.url(),
            ])
            .args(["--listen", "127.0.0.1:0", "--nats-url", SYSTEM_NATS])
            .args(args)
            .env_remove("AUDIT_RELAY_RETENTION")
            .env_remove("AUDIT_RELAY_COMPRESS_AFTER")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some((name, value)) = env {
            command.env(name, value);
        }
        let run = tokio::time::timeout(Duration::from_secs(10), command.output())
            .await
            .unwrap_or_else(|_| panic!("{args:?} {env:?}: the relay kept running"))
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert_eq!(run.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(
            stderr.contains(flag),
            "{args:?} {env:?}: the message does not name {flag}: {stderr}"
        );
        assert!(
            !stdout.contains("audit relay started"),
            "{args:?} {env:?}: it got as far as starting: {stdout}"
        );
    }

    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(&store_pool)
        .await
        .unwrap();
    assert_eq!(left, events, "audit history was deleted");
    assert_eq!(jobs(&store_pool).await, [], "a policy reached the store");
    if let StoreKind::Timescale { .. } = kind {
        let chunks: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'audit_events'",
        )
        .fetch_one(&store_pool)
        .await
        .unwrap();
        assert!(chunks >= 8, "the history spans {chunks} chunks");
    }
}

fn relay_config(app: &TestDatabase, store: &TestDatabase, stream: &TestStream) -> Config {
    let mut config = Config::with_urls(&app.url(), &store.url(), &stream.nats_url);
    config.stream = stream.name.clone();
    config.subject_prefix = stream.prefix.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.stage_timeout = Duration::from_secs(2);
    config.min_backoff = Duration::from_millis(50);
    config.max_backoff = Duration::from_millis(500);
    config
}

async fn healthz(addr: SocketAddr) -> serde_json::Value {
    let (status, body) = http_get(addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Waits until /healthz reports the policies as settled, and returns what it
/// reports.
async fn policies_settled(addr: SocketAddr, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let health = healthz(addr).await;
        let policies = health["policies"].as_str().unwrap().to_string();
        if policies != "pending" {
            return policies;
        }
        assert!(
            Instant::now() < deadline,
            "policies still pending after {limit:?}: {health}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts a relay with these policies, waits until they are in place, stops
/// it; returns what /healthz said about them.
async fn run_relay(
    app: &TestDatabase,
    store: &TestDatabase,
    stream: &TestStream,
    retention: Option<PolicyAge>,
    compress_after: Option<PolicyAge>,
) -> String {
    let mut config = relay_config(app, store, stream);
    config.retention = retention;
    config.compress_after = compress_after;
    let shutdown = CancellationToken::new();
    let relay = audit_relay::start(config, shutdown.clone()).await.unwrap();
    let settled = policies_settled(relay.http_addr, Duration::from_secs(20)).await;
    shutdown.cancel();
    relay.wait().await.unwrap();
    settled
}

fn expected_state(kind: &StoreKind) -> &'static str {
    match kind {
        StoreKind::Plain => "not-applicable",
        StoreKind::Timescale { .. } => "applied",
    }
}

fn job<'a>(
    jobs: &'a [(i32, String, Option<String>)],
    proc_name: &str,
) -> Option<&'a (i32, String, Option<String>)> {
    jobs.iter().find(|job| job.1 == proc_name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_with_unchanged_policies_leave_the_timescaledb_jobs_alone() {
    let kind = store_kind().await;
    let app = TestDatabase::with_app_schema("restart_app").await;
    let audit = TestDatabase::store("restart_store").await;
    let stream = TestStream::new(SYSTEM_NATS);
    let store_pool = audit.pool(2).await;
    let events = fill_history(&store_pool).await;
    let (retention, compress_after) = (Some(PolicyAge::Days(400)), Some(PolicyAge::Days(7)));
    let expected = expected_state(&kind);

    assert_eq!(
        run_relay(&app, &audit, &stream, retention, compress_after).await,
        expected
    );
    let first = jobs(&store_pool).await;
    // Two replicas starting at once, then one more restart: still the same
    // two jobs.
    let (a, b) = tokio::join!(
        run_relay(&app, &audit, &stream, retention, compress_after),
        run_relay(&app, &audit, &stream, retention, compress_after),
    );
    assert_eq!((a.as_str(), b.as_str()), (expected, expected));
    assert_eq!(
        run_relay(&app, &audit, &stream, retention, compress_after).await,
        expected
    );
    let after_restarts = jobs(&store_pool).await;
    assert_eq!(after_restarts, first, "restarts changed the jobs");

    // A changed retention replaces that job only; an unset compression
    // removes its job.
    let longer = Some(PolicyAge::Months(13));
    assert_eq!(
        run_relay(&app, &audit, &stream, longer, compress_after).await,
        expected
    );
    let changed = jobs(&store_pool).await;
    assert_eq!(
        run_relay(&app, &audit, &stream, longer, None).await,
        expected
    );
    let removed = jobs(&store_pool).await;

    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(&store_pool)
        .await
        .unwrap();
    assert_eq!(
        left, events,
        "a policy deleted audit history younger than it"
    );

    let StoreKind::Timescale { .. } = kind else {
        assert_eq!(first, []);
        return;
    };
    let retention_job = job(&first, "policy_retention").expect("a retention job");
    let compression_job = job(&first, "policy_compression").expect("a compression job");
    assert_eq!(first.len(), 2, "{first:?}");
    assert_eq!(retention_job.2.as_deref(), Some("400 days"));
    assert_eq!(compression_job.2.as_deref(), Some("7 days"));

    let new_retention = job(&changed, "policy_retention").unwrap();
    assert_ne!(
        new_retention.0, retention_job.0,
        "the retention job was not replaced"
    );
    assert_eq!(new_retention.2.as_deref(), Some("1 year 1 mon"));
    assert_eq!(job(&changed, "policy_compression"), Some(compression_job));

    assert_eq!(
        removed,
        std::slice::from_ref(new_retention),
        "compression job not removed"
    );
}

/// Compression settings an operator chose (or an older relay's) are left as
/// they are; the policy is added on top of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_compression_settings_are_kept() {
    let kind = store_kind().await;
    let app = TestDatabase::with_app_schema("settings_app").await;
    let audit = TestDatabase::store("settings_store").await;
    let stream = TestStream::new(SYSTEM_NATS);
    let store_pool = audit.pool(2).await;
    store::migrate(&store_pool).await.unwrap();
    let StoreKind::Timescale { .. } = kind else {
        // Nothing to keep on a plain table: only that the relay starts.
        let state = run_relay(&app, &audit, &stream, None, Some(PolicyAge::Days(7))).await;
        assert_eq!(state, "not-applicable");
        return;
    };
    sqlx::query(
        "ALTER TABLE audit_events SET (timescaledb.compress, timescaledb.compress_segmentby = 'action',
                                       timescaledb.compress_orderby = 'occurred_at')",
    )
    .execute(&store_pool)
    .await
    .unwrap();
    let state = run_relay(&app, &audit, &stream, None, Some(PolicyAge::Days(7))).await;
    assert_eq!(state, "applied");
    let settings: (String, String) = sqlx::query_as(
        "SELECT segmentby, orderby FROM timescaledb_information.hypertable_compression_settings
         WHERE hypertable = 'audit_events'::regclass",
    )
    .fetch_one(&store_pool)
    .await
    .unwrap();
    assert_eq!(settings, ("action".to_string(), "occurred_at".to_string()));
    let jobs = jobs(&store_pool).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].2.as_deref(), Some("7 days"));
}

/// The policy step waits on a lock here (another replica applying policies,
/// say): events flow all the same, and the policies follow once it is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_policy_step_does_not_hold_up_relaying() {
    let kind = store_kind().await;
    let app = TestDatabase::with_app_schema("stuck_app").await;
    let audit = TestDatabase::store("stuck_store").await;
    let stream = TestStream::new(SYSTEM_NATS);
    let app_pool = app.pool(4).await;
    let store_pool = audit.pool(2).await;
    store::migrate(&store_pool).await.unwrap();
    let mut holder = store_pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(hashtext('audit-relay policies'))")
        .execute(&mut *holder)
        .await
        .unwrap();

    let mut config = relay_config(&app, &audit, &stream);
    config.retention = Some(PolicyAge::Days(400));
    config.stage_timeout = Duration::from_millis(500);
    let shutdown = CancellationToken::new();
    let relay = audit_relay::start(config, shutdown.clone()).await.unwrap();
    let written = spawn_writers(
        app_pool.clone(),
        &Load {
            writers: 2,
            events_per_writer: 100,
            objects_per_writer: 5,
            pause: Duration::ZERO,
        },
    )
    .await
    .unwrap();
    wait_drained(
        &app_pool,
        &store_pool,
        written.len(),
        Duration::from_secs(20),
    )
    .await;
    let health = healthz(relay.http_addr).await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["policies"], "pending", "{health}");
    // The step has timed out at least once (the lock is still held) and
    // is waiting again: relaying did not wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while relay.metrics.failures(Stage::Policies) == 0 {
        assert!(Instant::now() < deadline, "the policy step never timed out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(healthz(relay.http_addr).await["policies"], "pending");

    sqlx::query("SELECT pg_advisory_unlock(hashtext('audit-relay policies'))")
        .execute(&mut *holder)
        .await
        .unwrap();
    let settled = policies_settled(relay.http_addr, Duration::from_secs(20)).await;
    assert_eq!(settled, expected_state(&kind));
    shutdown.cancel();
    relay.wait().await.unwrap();
    drop(holder);
    assert_store_exact(&store_pool, &written).await;
    if let StoreKind::Timescale { .. } = kind {
        let jobs = jobs(&store_pool).await;
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        assert_eq!(jobs[0].2.as_deref(), Some("400 days"));
    }
}
