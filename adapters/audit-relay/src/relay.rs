//! The relay loop: claim a batch, publish it and store it, delete it, commit.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
use crate::config::Config;
use crate::health::Health;
use crate::metrics::{Metrics, Stage};
use crate::publisher::Publisher;
use crate::{http, outbox, store};

const MIGRATION_TIMEOUT: Duration = Duration::from_secs(3600);

/// Everything the workers, the listener and the HTTP server share.
pub(crate) struct Shared {
    pub config: Config,
    pub outbox: PgPool,
    pub store: PgPool,
    pub listen_pool: PgPool,
    pub publisher: Publisher,
    pub metrics: Metrics,
    pub health: Health,
    /// Woken by NOTIFY; a stored permit covers a notification that arrives
    /// while every worker is busy.
    pub wake: Notify,
}

/// A relay started by [`start`].
pub struct Running {
    /// Where /metrics and /healthz are served (useful with port 0).
    pub http_addr: SocketAddr,
    pub metrics: Metrics,
    task: JoinHandle<Result<()>>,
}

impl Running {
    /// Waits until the relay has stopped after its shutdown token fired.
    pub async fn wait(self) -> Result<()> {
        self.task.await.context("the relay task panicked")?
    }
}

/// Runs the relay until `shutdown` fires.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<()> {
    start(config, shutdown).await?.wait().await
}

/// Binds the HTTP port and starts relaying in the background. Fails only on
/// configuration errors; unreachable databases or NATS are retried.
pub async fn start(config: Config, shutdown: CancellationToken) -> Result<Running> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let http_addr = listener.local_addr()?;
    let shared = Arc::new(connect(config).await?);
    let metrics = shared.metrics.clone();
    let task = tokio::spawn(supervise(shared, listener, shutdown));
    info!(%http_addr, "audit relay started");
    Ok(Running {
        http_addr,
        metrics,
        task,
    })
}

async fn connect(config: Config) -> Result<Shared> {
    let workers = u32::from(config.workers);
    let stage_timeout = config.stage_timeout;
    // +1 for the backlog gauges read at scrape time.
    let outbox = outbox::pool(&config.database_url, workers + 1, stage_timeout)?;
    let store = store::pool(config.audit_database_url(), workers + 1, stage_timeout)?;
    // LISTEN needs a session of its own that is never recycled.
    let listen_pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(stage_timeout)
        .connect_lazy_with(outbox::connect_options(&config.database_url)?);
    let in_flight = (config.batch_size as usize * config.workers as usize).max(5_000);
    let publisher = Publisher::connect(&config, stage_timeout, in_flight).await?;
    Ok(Shared {
        config,
        outbox,
        store,
        listen_pool,
        publisher,
        metrics: Metrics::new(),
        health: Health::default(),
        wake: Notify::new(),
    })
}

async fn supervise(
    shared: Arc<Shared>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<()> {
    let server = tokio::spawn(http::serve(listener, shared.clone(), shutdown.clone()));
    if prepare(&shared, &shutdown).await {
        shared.health.set_ready();
        let listen = tokio::spawn(listen(shared.clone(), shutdown.clone()));
        let mut workers = JoinSet::new();
        for id in 0..shared.config.workers {
            workers.spawn(worker(id, shared.clone(), shutdown.clone()));
        }
        shutdown.cancelled().await;
        info!("shutting down: finishing the batches in hand");
        if tokio::time::timeout(shared.config.shutdown_grace, workers.join_all())
            .await
            .is_err()
        {
            // Dropping a worker drops its transaction: the batch is rolled
            // back and stays in the outbox for the next relay.
            warn!("batches still in hand after the grace period: released");
        }
        listen.abort();
    }
    shared.health.set_stopped();
    shared.publisher.flush().await;
    shared.outbox.close().await;
    shared.store.close().await;
    shared.listen_pool.close().await;
    let _ = server.await;
    info!("audit relay stopped");
    Ok(())
}

/// Migrates the store and applies its policies, retrying until it works.
/// Returns false if shutdown came first.
async fn prepare(shared: &Shared, shutdown: &CancellationToken) -> bool {
    let config = &shared.config;
    let policies = store::Policies {
        retention: config.retention.clone(),
        compress_after: config.compress_after.clone(),
    };
    let mut backoff = Backoff::new(config.min_backoff, config.max_backoff);
    loop {
        let attempt = async {
            // Index builds on a large store may take a while; a dead server is
            // caught sooner by the pool's acquire timeout.
            stage(
                Stage::Migrate,
                MIGRATION_TIMEOUT,
                store::migrate(&shared.store),
            )
            .await?;
            stage(
                Stage::Policies,
                config.stage_timeout,
                store::apply_policies(&shared.store, &policies),
            )
            .await
        };
        match attempt.await {
            Ok(()) => return true,
            Err(failure) => {
                if failure_is_retried(shared, &failure, &mut backoff, shutdown).await {
                    continue;
                }
                return false;
            }
        }
    }
}

/// Records a failure and sleeps off the backoff. Returns false if shutdown
/// came first.
async fn failure_is_retried(
    shared: &Shared,
    failure: &Failure,
    backoff: &mut Backoff,
    shutdown: &CancellationToken,
) -> bool {
    shared.metrics.failed(failure.stage);
    shared.health.set_error(failure.to_string());
    let delay = backoff.next_delay();
    warn!(stage = %failure.stage, error = format!("{:#}", failure.error), retry_in = ?delay, "relay step failed");
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        _ = shutdown.cancelled() => false,
    }
}

async fn worker(id: u16, shared: Arc<Shared>, shutdown: CancellationToken) {
    let config = &shared.config;
    let mut backoff = Backoff::new(config.min_backoff, config.max_backoff);
    while !shutdown.is_cancelled() {
        match relay_batch(&shared).await {
            Ok(relayed) => {
                backoff.reset();
                if relayed == config.batch_size as usize {
                    // More is probably waiting: let an idle peer help.
                    shared.wake.notify_one();
                    continue;
                }
                tokio::select! {
                    _ = shared.wake.notified() => {}
                    _ = tokio::time::sleep(config.poll_interval) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
            Err(failure) => {
                if !failure_is_retried(&shared, &failure, &mut backoff, &shutdown).await {
                    break;
                }
            }
        }
    }
    debug!(worker = id, "worker stopped");
}

/// Relays one batch; returns its size (0: the outbox had nothing unclaimed).
///
/// NATS and the store get the batch at the same time and both must succeed
/// before the outbox rows are deleted. Both writes are idempotent (message id,
/// ON CONFLICT), so any failure simply leaves the rows to be relayed again.
async fn relay_batch(shared: &Shared) -> Result<usize, Failure> {
    let config = &shared.config;
    let timeout = config.stage_timeout;
    let started = Instant::now();
    let mut tx = stage(Stage::Claim, timeout, shared.outbox.begin()).await?;
    let events = stage(
        Stage::Claim,
        timeout,
        outbox::claim(&mut tx, config.batch_size),
    )
    .await?;
    if events.is_empty() {
        stage(Stage::Claim, timeout, tx.rollback()).await?;
        shared.health.set_ok();
        return Ok(0);
    }
    if !shared.publisher.stream_is_ready() {
        stage(Stage::Stream, timeout, shared.publisher.ensure_stream()).await?;
    }
    // Holding a store connection before publishing means an unreachable store
    // costs no publish at all, which keeps replays within the duplicate window.
    let mut store_conn = stage(Stage::Store, timeout, shared.store.acquire()).await?;
    let (published, stored) = tokio::join!(
        stage(Stage::Publish, timeout, shared.publisher.publish(&events)),
        stage(
            Stage::Store,
            timeout,
            store::insert(&mut store_conn, &events)
        ),
    );
    published?;
    let new_in_store = stored?;
    drop(store_conn);
    stage(Stage::Delete, timeout, outbox::delete(&mut tx, &events)).await?;
    stage(Stage::Commit, timeout, tx.commit()).await?;

    let metrics = &shared.metrics;
    metrics.relayed.inc_by(events.len() as u64);
    metrics.stored.inc_by(new_in_store);
    metrics.batches.inc();
    metrics
        .batch_duration
        .observe(started.elapsed().as_secs_f64());
    shared.health.set_ok();
    debug!(events = events.len(), new_in_store, elapsed = ?started.elapsed(), "batch relayed");
    Ok(events.len())
}

/// Keeps a LISTEN session open and turns notifications into wake-ups.
async fn listen(shared: Arc<Shared>, shutdown: CancellationToken) {
    let config = &shared.config;
    let mut backoff = Backoff::new(config.min_backoff, config.max_backoff);
    loop {
        let error = tokio::select! {
            result = listen_session(&shared, &mut backoff) => match result {
                Ok(never) => match never {},
                Err(error) => error,
            },
            _ = shutdown.cancelled() => return,
        };
        let failure = Failure {
            stage: Stage::Listen,
            error,
        };
        // Polling carries on meanwhile; only latency suffers.
        if !failure_is_retried(&shared, &failure, &mut backoff, &shutdown).await {
            return;
        }
    }
}

async fn listen_session(
    shared: &Shared,
    backoff: &mut Backoff,
) -> Result<std::convert::Infallible> {
    let mut listener = PgListener::connect_with(&shared.listen_pool).await?;
    listener.listen(outbox::CHANNEL).await?;
    backoff.reset();
    debug!("listening for outbox notifications");
    // Rows may have arrived while no session was listening.
    shared.wake.notify_one();
    loop {
        // `None` means the session was lost and re-established: anything
        // notified in between was missed, so look anyway.
        let _notification = listener.try_recv().await?;
        shared.wake.notify_one();
    }
}

/// A failed step of the relay, for the failure metric and the log.
#[derive(Debug)]
pub(crate) struct Failure {
    pub stage: Stage,
    pub error: anyhow::Error,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {:#}", self.stage, self.error)
    }
}

/// Runs one step with a time limit, labelling any failure with its stage.
async fn stage<T, E>(
    stage: Stage,
    limit: Duration,
    step: impl Future<Output = Result<T, E>>,
) -> Result<T, Failure>
where
    E: Into<anyhow::Error>,
{
    match tokio::time::timeout(limit, step).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(Failure {
            stage,
            error: error.into(),
        }),
        Err(_) => Err(Failure {
            stage,
            error: anyhow::anyhow!("timed out after {limit:?}"),
        }),
    }
}
