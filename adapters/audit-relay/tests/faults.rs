//! Fault tests: the relay binary against real Postgres and NATS while
//! processes die and dependencies vanish. Afterwards every change must be in
//! the audit store exactly once and in the stream exactly once, and the
//! outbox must be empty.

mod common;

use std::time::Duration;

use common::*;
use rand::Rng;
use tokio::time::sleep;

const DRAIN_LIMIT: Duration = Duration::from_secs(40);
const STOP_LIMIT: Duration = Duration::from_secs(15);
/// Longer than the `AUDIT_RELAY_STAGE_TIMEOUT` the fixtures give the relay.
const OUTAGE: Duration = Duration::from_millis(3500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_killed_with_sigkill_again_and_again_lose_and_repeat_nothing() {
    let app = TestDatabase::with_app_schema("kill_app").await;
    let store = TestDatabase::store("kill_store").await;
    let stream = TestStream::new(SYSTEM_NATS);
    let logs = tempfile::tempdir().unwrap();
    let log_paths = [
        logs.path().join("relay-0.log"),
        logs.path().join("relay-1.log"),
    ];
    let _show_logs = LogsOnFailure(log_paths.to_vec());
    let settings = RelaySettings::new(&app.url(), &store.url(), &stream);
    let app_pool = app.pool(10).await;

    let writers = spawn_writers(
        app_pool.clone(),
        &Load {
            writers: 8,
            events_per_writer: 800,
            objects_per_writer: 25,
            pause: Duration::from_millis(12),
        },
    );
    let mut replicas: Vec<Option<RelayProcess>> = log_paths
        .iter()
        .map(|log| Some(RelayProcess::spawn(&settings, log)))
        .collect();
    let mut kills = 0;
    while !writers.is_finished() || kills < 16 {
        sleep(random_pause(150, 500)).await;
        let victim = rand::rng().random_range(0..replicas.len());
        replicas[victim].take().unwrap().kill().await;
        kills += 1;
        replicas[victim] = Some(RelayProcess::spawn(&settings, &log_paths[victim]));
    }
    let written = writers.await.unwrap();
    assert_eq!(written.len(), 6400);

    let store_pool = store.pool(2).await;
    wait_drained(&app_pool, &store_pool, written.len(), DRAIN_LIMIT).await;
    for replica in replicas.into_iter().flatten() {
        assert!(
            replica.terminate(STOP_LIMIT).await.success(),
            "graceful stop exits 0"
        );
    }
    assert_relayed_exactly_once(&app_pool, &store_pool, &stream, &written, false).await;
    eprintln!("{kills} SIGKILLs, {} events", written.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_down_at_start_and_twice_during_the_load() {
    let logs = tempfile::tempdir().unwrap();
    let relay_log = logs.path().join("relay.log");
    let nats_log = logs.path().join("nats.log");
    let _show_logs = LogsOnFailure(vec![relay_log.clone(), nats_log.clone()]);
    let mut nats = NatsServer::not_started(&nats_log);
    let stream = TestStream::new(&nats.url());
    let app = TestDatabase::with_app_schema("nats_app").await;
    let store = TestDatabase::store("nats_store").await;
    let settings = RelaySettings::new(&app.url(), &store.url(), &stream);
    let app_pool = app.pool(10).await;
    let store_pool = store.pool(2).await;

    // The relay starts while NATS is not there yet.
    let relay = RelayProcess::spawn(&settings, &relay_log);
    let writers = spawn_writers(
        app_pool.clone(),
        // Writes go on through every outage below.
        &Load {
            writers: 6,
            events_per_writer: 1000,
            objects_per_writer: 25,
            pause: Duration::from_millis(25),
        },
    );
    sleep(Duration::from_millis(1500)).await;
    nats.restart().await;
    wait_for_rows(&store_pool, 1, Duration::from_secs(15)).await;
    for outage in [Duration::from_millis(2500), Duration::from_millis(2000)] {
        sleep(Duration::from_millis(800)).await;
        nats.kill().await;
        sleep(outage).await;
        nats.restart().await;
    }
    let written = writers.await.unwrap();

    wait_drained(&app_pool, &store_pool, written.len(), DRAIN_LIMIT).await;
    assert!(
        relay.terminate(STOP_LIMIT).await.success(),
        "graceful stop exits 0"
    );
    assert!(
        logged_failure(&relay_log, "publish") || logged_failure(&relay_log, "stream"),
        "the outages never reached the relay"
    );
    assert_relayed_exactly_once(&app_pool, &store_pool, &stream, &written, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_store_and_outbox_database_refusing_connections() {
    let app = TestDatabase::with_app_schema("pg_app").await;
    let store = TestDatabase::store("pg_store").await;
    let stream = TestStream::new(SYSTEM_NATS);
    let logs = tempfile::tempdir().unwrap();
    let relay_log = logs.path().join("relay.log");
    let _show_logs = LogsOnFailure(vec![relay_log.clone()]);
    // The relay reaches both databases only through proxies we can cut.
    let app_proxy = Proxy::start(app.server.addr()).await;
    let store_proxy = Proxy::start(store.server.addr()).await;
    let settings = RelaySettings::new(
        &app.url_via(app_proxy.addr),
        &store.url_via(store_proxy.addr),
        &stream,
    );
    let app_pool = app.pool(10).await;
    let writers = spawn_writers(
        app_pool.clone(),
        // Writes go on through every outage below.
        &Load {
            writers: 6,
            events_per_writer: 1000,
            objects_per_writer: 25,
            pause: Duration::from_millis(25),
        },
    );
    let relay = RelayProcess::spawn(&settings, &relay_log);
    let store_pool = store.pool(2).await;
    wait_for_rows(&store_pool, 1, Duration::from_secs(15)).await;

    // Each single outage outlasts the relay's 3 s stage timeout: a relay
    // that was waiting for a connection rather than using one when the
    // proxy cut it would otherwise simply get one once the outage ended,
    // and the test would not see that it noticed.
    store_proxy.set_enabled(false);
    sleep(OUTAGE).await;
    store_proxy.set_enabled(true);
    sleep(Duration::from_millis(800)).await;
    app_proxy.set_enabled(false);
    sleep(OUTAGE).await;
    app_proxy.set_enabled(true);
    sleep(Duration::from_millis(800)).await;
    app_proxy.set_enabled(false);
    store_proxy.set_enabled(false);
    sleep(Duration::from_millis(1500)).await;
    app_proxy.set_enabled(true);
    store_proxy.set_enabled(true);
    let written = writers.await.unwrap();

    wait_drained(&app_pool, &store_pool, written.len(), DRAIN_LIMIT).await;
    assert!(
        relay.terminate(STOP_LIMIT).await.success(),
        "graceful stop exits 0"
    );
    assert!(
        logged_failure(&relay_log, "store"),
        "the store outage never reached the relay"
    );
    assert!(
        logged_failure(&relay_log, "claim") || logged_failure(&relay_log, "commit"),
        "the outbox outage never reached the relay"
    );
    assert_relayed_exactly_once(&app_pool, &store_pool, &stream, &written, true).await;
}
