//! The relay in-process: what it publishes and stores, its HTTP endpoints,
//! replays, and one database serving as both app database and audit store.

mod common;

use std::time::Duration;

use async_nats::jetstream;
use audit_relay::event::OutboxEvent;
use audit_relay::{store, Config, PolicyAge};
use common::*;
use sqlx::postgres::{PgListener, PgPool};
use tokio_util::sync::CancellationToken;

fn config(app_url: &str, store_url: &str, stream: &TestStream) -> Config {
    let mut config = Config::with_urls(app_url, store_url, &stream.nats_url);
    config.stream = stream.name.clone();
    config.subject_prefix = stream.prefix.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.batch_size = 100;
    config.poll_interval = Duration::from_millis(300);
    config
}

/// Runs a relay in-process until the outbox is drained into the store, then
/// stops it; returns its /metrics as they were when drained.
async fn relay_until_drained(
    config: Config,
    app_pool: &PgPool,
    store_pool: &PgPool,
    expected: usize,
) -> String {
    let shutdown = CancellationToken::new();
    let relay = audit_relay::start(config, shutdown.clone()).await.unwrap();
    wait_drained(app_pool, store_pool, expected, Duration::from_secs(30)).await;
    let (_, text) = http_get(relay.http_addr, "/metrics").await;
    shutdown.cancel();
    relay.wait().await.unwrap();
    text
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// App tables, outbox and audit store in one database: the relay's audit
/// migrations share `_sqlx_migrations` with the app's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_everything_and_reports_it_on_metrics_and_healthz() {
    let db = TestDatabase::with_app_schema("one_db").await;
    let stream = TestStream::new(SYSTEM_NATS);
    let pool = db.pool(8).await;
    let written = spawn_writers(
        pool.clone(),
        &Load {
            writers: 4,
            events_per_writer: 250,
            objects_per_writer: 10,
            pause: Duration::ZERO,
        },
    )
    .await
    .unwrap();

    let mut config = config(&db.url(), &db.url(), &stream);
    // Plain Postgres: configured policies are reported and ignored.
    config.retention = Some(PolicyAge::Days(400));
    config.compress_after = Some(PolicyAge::Days(7));
    let shutdown = CancellationToken::new();
    let relay = audit_relay::start(config, shutdown.clone()).await.unwrap();
    wait_drained(&pool, &pool, written.len(), Duration::from_secs(30)).await;

    let (status, text) = http_get(relay.http_addr, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(metric(&text, "audit_relay_events_relayed_total"), 1000.0);
    assert_eq!(metric(&text, "audit_relay_events_stored_total"), 1000.0);
    assert_eq!(metric(&text, "audit_relay_outbox_depth"), 0.0);
    assert_eq!(metric(&text, "audit_relay_oldest_pending_age_seconds"), 0.0);
    assert!(metric(&text, "audit_relay_batch_duration_seconds_count") >= 10.0);
    assert_eq!(
        metric(&text, "audit_relay_failures_total{stage=\"publish\"}"),
        0.0
    );

    let (status, body) = http_get(relay.http_addr, "/healthz").await;
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["nats"], "connected");

    shutdown.cancel();
    relay.wait().await.unwrap();

    assert_store_exact(&pool, &written).await;
    assert_stream_exact(&stream, &written, true).await;
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(versions.first(), Some(&1));
    assert!(versions.contains(&1001), "{versions:?}");
}

/// The outbox rows of a batch that was published and stored, but whose
/// delete never committed (a crash), are relayed again without doubling
/// anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_batch_changes_neither_store_nor_stream() {
    let app = TestDatabase::with_app_schema("replay_app").await;
    let audit = TestDatabase::store("replay_store").await;
    let stream = TestStream::new(SYSTEM_NATS);
    let app_pool = app.pool(4).await;
    let store_pool = audit.pool(2).await;
    let written = spawn_writers(
        app_pool.clone(),
        &Load {
            writers: 2,
            events_per_writer: 150,
            objects_per_writer: 5,
            pause: Duration::ZERO,
        },
    )
    .await
    .unwrap();

    // What a relay that died before its commit left behind: the first 200
    // events already stored and published.
    let first: Vec<OutboxEvent> = sqlx::query_as(
        "SELECT seq, id, occurred_at, object_type, object_id, action, operation, actor,
                before::text AS before, after::text AS after, request_id
         FROM audit_outbox ORDER BY seq LIMIT 200",
    )
    .fetch_all(&app_pool)
    .await
    .unwrap();
    store::migrate(&store_pool).await.unwrap();
    let mut conn = store_pool.acquire().await.unwrap();
    assert_eq!(store::insert(&mut conn, &first).await.unwrap(), 200);
    assert_eq!(
        store::insert(&mut conn, &first).await.unwrap(),
        0,
        "ON CONFLICT skips replays"
    );
    drop(conn);
    let js = stream.context().await;
    js.create_stream(jetstream::stream::Config {
        name: stream.name.clone(),
        subjects: vec![format!("{}.>", stream.prefix)],
        duplicate_window: Duration::from_secs(300),
        ..Default::default()
    })
    .await
    .unwrap();
    for event in &first {
        let message = jetstream::message::PublishMessage::build()
            .message_id(event.id.to_string())
            .payload(event.payload().unwrap().into());
        js.send_publish(event.subject(&stream.prefix), message)
            .await
            .unwrap()
            .await
            .unwrap();
    }

    let config = config(&app.url(), &audit.url(), &stream);
    let text = relay_until_drained(config, &app_pool, &store_pool, written.len()).await;
    assert_eq!(metric(&text, "audit_relay_events_relayed_total"), 300.0);
    assert_eq!(metric(&text, "audit_relay_events_stored_total"), 100.0);

    assert_relayed_exactly_once(&app_pool, &store_pool, &stream, &written, true).await;
}

/// The audit migrations can run any number of times, concurrently, next to
/// the app's in one `_sqlx_migrations`, and make a hypertable exactly where
/// the store server has TimescaleDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_migrations_are_concurrent_and_repeatable() {
    let expected = store_kind().await;
    let db = TestDatabase::with_app_schema_on(Server::store(), "migrate").await;
    let pool = db.pool(4).await;
    let runs = (0..4).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move { store::migrate(&pool).await })
    });
    for run in runs {
        run.await.unwrap().unwrap();
    }
    let hypertable: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
                AND EXISTS (SELECT 1 FROM timescaledb_information.hypertables
                            WHERE hypertable_name = 'audit_events')",
    )
    .fetch_one(&pool)
    .await
    .unwrap_or(false);
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE tablename = 'audit_events' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        hypertable,
        matches!(expected, StoreKind::Timescale { .. }),
        "audit_events is a hypertable exactly where TimescaleDB is available ({expected:?})"
    );
    assert_eq!(
        indexes,
        [
            "audit_events_action_idx",
            "audit_events_actor_idx",
            "audit_events_id_occurred_at_key",
            "audit_events_object_idx",
            "audit_events_occurred_at_id_idx",
        ]
    );
    let applied = store::apply_policies(&pool, &store::Policies::default())
        .await
        .unwrap();
    let expected_applied = match expected {
        StoreKind::Plain => store::Applied::NotHypertable,
        StoreKind::Timescale { .. } => store::Applied::Hypertable {
            retention: store::Change::None,
            compression: store::Change::None,
        },
    };
    assert_eq!(applied, expected_applied);
}

/// A database migrated before 0002 (outbox trigger notifying on every
/// insert) upgrades cleanly: the trigger and its function go, the waiting
/// events stay, and from then on a write sends no notification at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_migrated_before_0002_upgrades_and_stops_notifying() {
    let app = TestDatabase::create("upgrade_app").await;
    let audit = TestDatabase::store("upgrade_store").await;
    let stream = TestStream::new(SYSTEM_NATS);
    let app_pool = app.pool(4).await;
    let mut before_0002 = app_migrator();
    before_0002.migrations = before_0002
        .iter()
        .filter(|migration| migration.version < 2)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before_0002.run(&app_pool).await.unwrap();

    let mut listener = PgListener::connect(&app.url()).await.unwrap();
    listener.listen("audit_outbox").await.unwrap();
    let load = Load {
        writers: 2,
        events_per_writer: 50,
        objects_per_writer: 5,
        pause: Duration::ZERO,
    };
    let mut written = spawn_writers(app_pool.clone(), &load).await.unwrap();
    // What this test would see if a write still notified.
    tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("the 0001 trigger notifies")
        .unwrap();
    while tokio::time::timeout(Duration::from_millis(200), listener.recv())
        .await
        .is_ok()
    {}

    app_migrator().run(&app_pool).await.unwrap();
    let (triggers, functions): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'audit_outbox'::regclass
                                                  AND NOT tgisinternal),
                (SELECT count(*) FROM pg_proc WHERE proname = 'audit_outbox_notify')",
    )
    .fetch_one(&app_pool)
    .await
    .unwrap();
    assert_eq!((triggers, functions), (0, 0));
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_outbox")
        .fetch_one(&app_pool)
        .await
        .unwrap();
    assert_eq!(waiting as usize, written.len(), "the upgrade lost events");

    written.extend(spawn_writers(app_pool.clone(), &load).await.unwrap());
    let notified = tokio::time::timeout(Duration::from_secs(1), listener.recv()).await;
    assert!(notified.is_err(), "a write notified: {notified:?}");

    let store_pool = audit.pool(2).await;
    let config = config(&app.url(), &audit.url(), &stream);
    relay_until_drained(config, &app_pool, &store_pool, written.len()).await;
    assert_relayed_exactly_once(&app_pool, &store_pool, &stream, &written, true).await;
}

/// Without notifications, an idle relay still picks up a trickle of writes
/// soon: commit → store lag stays within the idle poll bound plus a batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickle_of_writes_reaches_the_store_within_the_poll_bound() {
    let app = TestDatabase::with_app_schema("trickle_app").await;
    let audit = TestDatabase::store("trickle_store").await;
    let stream = TestStream::new(SYSTEM_NATS);
    let app_pool = app.pool(2).await;
    let store_pool = audit.pool(2).await;
    let mut config = config(&app.url(), &audit.url(), &stream);
    let defaults = Config::with_urls("postgres://a", "postgres://b", "nats://c");
    config.poll_interval = defaults.poll_interval;
    config.poll_min_interval = defaults.poll_min_interval;
    let shutdown = CancellationToken::new();
    let relay = audit_relay::start(config, shutdown.clone()).await.unwrap();
    // Long enough idle for the poll to have backed off all the way.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let written = spawn_writers(
        app_pool.clone(),
        &Load {
            writers: 1,
            events_per_writer: 40,
            objects_per_writer: 4,
            pause: Duration::from_millis(150),
        },
    )
    .await
    .unwrap();
    wait_drained(
        &app_pool,
        &store_pool,
        written.len(),
        Duration::from_secs(10),
    )
    .await;
    shutdown.cancel();
    relay.wait().await.unwrap();

    let (p50, max): (f64, f64) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag), max(lag)
         FROM (SELECT EXTRACT(EPOCH FROM recorded_at - occurred_at)::float8 * 1000 AS lag
               FROM audit_events) AS e",
    )
    .fetch_one(&store_pool)
    .await
    .unwrap();
    eprintln!(
        "trickle: {} events, lag p50 {p50:.0} ms, max {max:.0} ms",
        written.len()
    );
    // The bound is 250 ms of poll plus one batch; the margin is for a
    // machine shared with builds.
    assert!(p50 < 250.0, "lag p50 {p50:.0} ms");
    assert!(max < 1000.0, "lag max {max:.0} ms");
    assert_store_exact(&store_pool, &written).await;
}
