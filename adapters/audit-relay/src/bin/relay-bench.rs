//! Relay benchmark: throughput and commit → audit store lag, for a backlog
//! and for a steady write load, against real Postgres and NATS.
//!
//!     cargo run --profile native -p audit-relay --bin relay-bench -- --help
//!
//! It creates two throwaway databases (app, audit store) and a stream of its
//! own, runs the relay in-process, and drops all three afterwards.

use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use audit_relay::{store, Config};
use clap::Parser;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "relay-bench",
    about = "Measures audit-relay throughput and lag"
)]
struct Args {
    /// Any database on the Postgres server to use; the benchmark creates its
    /// own databases next to it.
    #[arg(
        long,
        env = "BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
    )]
    postgres_url: String,

    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,

    /// Events waiting in the outbox before the relay starts.
    #[arg(long, default_value_t = 100_000)]
    backlog: u32,

    /// Events per second written during the steady phase (0 skips it).
    #[arg(long, default_value_t = 5_000)]
    rate: u32,

    /// Length of the steady phase.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,

    /// Concurrent writers in the steady phase, each committing one event per
    /// statement like the app does.
    #[arg(long, default_value_t = 16)]
    writers: u32,

    /// Events per INSERT in the steady phase; above 1 it stands for many app
    /// instances when one Postgres on 2 cores cannot commit fast enough.
    #[arg(long, default_value_t = 1)]
    rows_per_statement: u32,

    /// After the load, how long to watch the idle relay's load on Postgres
    /// (transactions per second on the app database and the store; 0 skips).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    idle: Duration,

    #[arg(long, default_value_t = 1000)]
    batch_size: u32,

    #[arg(long, default_value_t = 1)]
    workers: u16,

    /// Keep the databases and the stream for inspection.
    #[arg(long)]
    keep: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let server = PgConnectOptions::from_str(&args.postgres_url)?;
    let tag = format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
    let app_db = format!("relay_bench_app_{tag}");
    let store_db = format!("relay_bench_store_{tag}");
    let stream = format!("RELAY_BENCH_{tag}");
    let prefix = format!("relay_bench_{tag}");

    create_database(&server, &app_db).await?;
    create_database(&server, &store_db).await?;
    let outcome = bench(&args, &server, &app_db, &store_db, &stream, &prefix).await;
    if !args.keep {
        drop_database(&server, &app_db).await?;
        drop_database(&server, &store_db).await?;
        let client = async_nats::connect(&args.nats_url).await?;
        async_nats::jetstream::new(client)
            .delete_stream(&stream)
            .await?;
    }
    outcome
}

async fn bench(
    args: &Args,
    server: &PgConnectOptions,
    app_db: &str,
    store_db: &str,
    stream: &str,
    prefix: &str,
) -> Result<()> {
    let app_options = server.clone().database(app_db);
    let store_options = server.clone().database(store_db);
    let app = PgPoolOptions::new()
        .max_connections(args.writers + 2)
        .connect_with(app_options.clone())
        .await?;
    let audit = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(store_options.clone())
        .await?;
    let mut app_migrations = sqlx::migrate!("../../infra/migrations/app");
    app_migrations.set_ignore_missing(true);
    app_migrations.run(&app).await?;
    store::migrate(&audit).await?;

    let mut config = Config::with_urls(
        app_options.to_url_lossy().as_ref(),
        store_options.to_url_lossy().as_ref(),
        &args.nats_url,
    );
    config.stream = stream.to_string();
    config.subject_prefix = prefix.to_string();
    config.batch_size = args.batch_size;
    config.workers = args.workers;
    config.listen = "127.0.0.1:0".parse()?;
    config.duplicate_window = Duration::from_secs(120);

    println!(
        "relay-bench: batch size {}, {} worker(s), steady load {} writers x {} event(s) per statement, {} cores",
        args.batch_size,
        args.workers,
        args.writers,
        args.rows_per_statement,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    let mut expected = 0u64;
    if args.backlog > 0 {
        fill_backlog(&app, args.backlog).await?;
        expected += u64::from(args.backlog);
    }
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let relay = audit_relay::start(config, shutdown.clone()).await?;
    if args.backlog > 0 {
        wait_drained(&app, &audit, expected, Duration::from_secs(600)).await?;
        let elapsed = started.elapsed();
        report("backlog", &audit, u64::from(args.backlog), elapsed).await?;
    }

    if args.rate > 0 {
        let write_started = Instant::now();
        let written = steady_load(&app, args, args.duration).await?;
        let write_time = write_started.elapsed();
        expected += written;
        wait_drained(&app, &audit, expected, Duration::from_secs(600)).await?;
        println!(
            "steady: {written} events written in {:.1} s ({:.0} events/s offered of {} asked)",
            write_time.as_secs_f64(),
            written as f64 / write_time.as_secs_f64(),
            args.rate
        );
        report("steady", &audit, written, write_started.elapsed()).await?;
    }

    if !args.idle.is_zero() {
        idle_load(server, app_db, store_db, args.idle).await?;
    }

    let metrics = relay.metrics.clone();
    shutdown.cancel();
    relay.wait().await?;
    ensure!(
        metrics.relayed.get() == expected,
        "relayed {} of {expected}",
        metrics.relayed.get()
    );
    let client = async_nats::connect(&args.nats_url).await?;
    let info = async_nats::jetstream::new(client)
        .get_stream(stream)
        .await?
        .info()
        .await?
        .clone();
    ensure!(
        info.state.messages == expected,
        "the stream holds {} messages, expected {expected}",
        info.state.messages
    );
    println!("checked: {expected} events in the store and in the stream, outbox empty");
    Ok(())
}

/// A realistic event body: a customer as the API renders it.
const AFTER: &str = r#"{"id": "0192f0c1-0000-7000-8000-000000000002", "code": "ducksrus", "name": "Ducks R Us",
  "extraFields": {"region": "emea", "tier": "gold"}, "validFrom": "2026-01-01T00:00:00.000000Z",
  "validThru": "2027-01-01T00:00:00.000000Z", "createdAt": "2026-01-01T00:00:00.000000Z",
  "updatedAt": "2026-01-01T00:00:00.000000Z", "createdBy": "0192f0c1-0000-7000-8000-000000000003",
  "updatedBy": "0192f0c1-0000-7000-8000-000000000003", "version": 2}"#;

async fn fill_backlog(app: &PgPool, events: u32) -> Result<()> {
    let started = Instant::now();
    let chunk = 10_000;
    let mut inserted = 0;
    while inserted < events {
        let n = chunk.min(events - inserted);
        // uuidv7-like ids are not needed here; uniqueness is.
        sqlx::query(
            "INSERT INTO audit_outbox (id, object_type, object_id, action, operation, actor, before, after, request_id)
             SELECT gen_random_uuid(), 'customer', gen_random_uuid(), 'update', 'bench-backlog',
                    gen_random_uuid(), $2::jsonb, $2::jsonb, 'bench-' || i
             FROM generate_series(1, $1) AS i",
        )
        .bind(n as i32)
        .bind(AFTER)
        .execute(app)
        .await?;
        inserted += n;
    }
    println!(
        "backlog: {events} events written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `writers` connections, each committing `rows_per_statement` events per
/// statement on a fixed schedule, `rate` events/s in all, for `duration`.
async fn steady_load(app: &PgPool, args: &Args, duration: Duration) -> Result<u64> {
    let rows = args.rows_per_statement.max(1);
    let period = Duration::from_secs_f64(f64::from(args.writers * rows) / f64::from(args.rate));
    let deadline = Instant::now() + duration;
    let mut tasks = JoinSet::new();
    for _ in 0..args.writers {
        let app = app.clone();
        tasks.spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut written = 0u64;
            while Instant::now() < deadline {
                ticks.tick().await;
                let ids = || (0..rows).map(|_| Uuid::now_v7()).collect::<Vec<_>>();
                sqlx::query(
                    "INSERT INTO audit_outbox (id, object_type, object_id, action, operation, actor, before, after, request_id)
                     SELECT id, 'customer', object_id, 'update', 'bench-steady', actor, $4::jsonb, $4::jsonb, 'bench'
                     FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[]) AS e(id, object_id, actor)",
                )
                .bind(ids())
                .bind(ids())
                .bind(ids())
                .bind(AFTER)
                .execute(&app)
                .await?;
                written += u64::from(rows);
            }
            anyhow::Ok(written)
        });
    }
    let mut total = 0;
    while let Some(written) = tasks.join_next().await {
        total += written??;
    }
    Ok(total)
}

async fn wait_drained(app: &PgPool, audit: &PgPool, expected: u64, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_outbox")
            .fetch_one(app)
            .await?;
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
            .fetch_one(audit)
            .await?;
        if pending == 0 && stored as u64 >= expected {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "not drained: {pending} pending, {stored}/{expected} stored"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Throughput over `elapsed`, and the lag from the outbox commit
/// (occurred_at) to the store insert (recorded_at) of this phase's events.
async fn report(phase: &str, audit: &PgPool, events: u64, elapsed: Duration) -> Result<()> {
    let (count, p50, p99, max): (i64, f64, f64, f64) = sqlx::query_as(
        "SELECT count(*),
                percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),
                percentile_cont(0.99) WITHIN GROUP (ORDER BY lag),
                max(lag)
         FROM (SELECT EXTRACT(EPOCH FROM recorded_at - occurred_at)::float8 * 1000 AS lag
               FROM audit_events WHERE operation = $1) AS e",
    )
    .bind(format!("bench-{phase}"))
    .fetch_one(audit)
    .await
    .context("cannot compute the lag")?;
    ensure!(
        count as u64 == events,
        "{phase}: {count} stored, expected {events}"
    );
    println!(
        "{phase}: {events} events relayed in {:.2} s = {:.0} events/s; lag p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// Transactions per second on the app database and the store while nothing
/// is written, from `pg_stat_database` (read from another database so that
/// the reads do not count). Backends report their counts when they go idle,
/// at most once a second, or 10 s after their last transaction: the wait
/// lets the benchmark's own sessions report before the window opens.
async fn idle_load(
    server: &PgConnectOptions,
    app_db: &str,
    store_db: &str,
    window: Duration,
) -> Result<()> {
    const SETTLE: Duration = Duration::from_secs(11);
    tokio::time::sleep(SETTLE).await;
    let mut conn = PgConnection::connect_with(server).await?;
    let (app_before, store_before) = transactions(&mut conn, app_db, store_db).await?;
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let (app_after, store_after) = transactions(&mut conn, app_db, store_db).await?;
    let seconds = started.elapsed().as_secs_f64();
    conn.close().await?;
    println!(
        "idle: {:.1} transactions/s on the app database, {:.1} on the store, over {seconds:.0} s",
        (app_after - app_before) as f64 / seconds,
        (store_after - store_before) as f64 / seconds,
    );
    Ok(())
}

async fn transactions(conn: &mut PgConnection, app_db: &str, store_db: &str) -> Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT (SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1),
                (SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $2)",
    )
    .bind(app_db)
    .bind(store_db)
    .fetch_one(conn)
    .await?)
}

async fn create_database(server: &PgConnectOptions, name: &str) -> Result<()> {
    let mut conn = PgConnection::connect_with(server).await?;
    sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

async fn drop_database(server: &PgConnectOptions, name: &str) -> Result<()> {
    let mut conn = PgConnection::connect_with(server).await?;
    sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}
