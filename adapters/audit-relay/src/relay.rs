//! The relay loop: claim a batch, publish it and store it, commit its removal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sqlx::postgres::PgPool;
use sqlx::{Postgres, Transaction};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::backoff::Backoff;
use crate::config::Config;
use crate::event::OutboxEvent;
use crate::health::Health;
use crate::metrics::{Metrics, Stage};
use crate::publisher::Publisher;
use crate::{http, outbox, store};

const MIGRATION_TIMEOUT: Duration = Duration::from_secs(3600);

/// Everything the workers, the policy step and the HTTP server share.
pub(crate) struct Shared {
    pub config: Config,
    pub outbox: PgPool,
    pub store: PgPool,
    pub publisher: Publisher,
    pub metrics: Metrics,
    pub health: Health,
    /// A worker that found more work than one batch wakes an idle peer
    /// through this instead of letting it sleep out its poll interval.
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
    config
        .validate()
        .map_err(|message| anyhow::anyhow!("invalid configuration: {message}"))?;
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
    // Two per worker (a batch in delivery, the next one claimed), one for the
    // backlog gauges read at scrape time.
    let outbox = outbox::pool(&config.database_url, 2 * workers + 1, stage_timeout)?;
    // One per worker, one for the policy step.
    let store = store::pool(config.audit_database_url(), workers + 1, stage_timeout)?;
    let in_flight = (config.batch_size as usize * config.workers as usize).max(5_000);
    let publisher = Publisher::connect(&config, stage_timeout, in_flight).await?;
    Ok(Shared {
        config,
        outbox,
        store,
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
    let mut outcome = Ok(());
    if prepare(&shared, &shutdown).await {
        shared.health.set_ready();
        // Policies are applied beside relaying, never in front of it: a
        // store that is slow to take them (a lock held, a job running) must
        // not stop events flowing. Their values were checked at start.
        let policies = tokio::spawn(apply_policies(shared.clone(), shutdown.clone()));
        let mut workers = JoinSet::new();
        for id in 0..shared.config.workers {
            workers.spawn(worker(id, shared.clone(), shutdown.clone()));
        }
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => {}
            Some(ended) = workers.join_next() => {
                // Workers return only on shutdown, which may have raced this
                // branch; otherwise a bug ended one. Exiting lets the
                // orchestrator restart the relay instead of running short.
                if !shutdown.is_cancelled() {
                    error!(?ended, "a relay worker stopped unexpectedly; stopping the relay");
                    outcome = Err(anyhow::anyhow!("a relay worker stopped unexpectedly"));
                    shutdown.cancel();
                }
            }
        }
        info!("shutting down: finishing the batches in hand");
        if tokio::time::timeout(shared.config.shutdown_grace, workers.join_all())
            .await
            .is_err()
        {
            // Dropping a worker drops its transaction: the batch is rolled
            // back and stays in the outbox for the next relay.
            warn!("batches still in hand after the grace period: released");
        }
        policies.abort();
    }
    shared.health.set_stopped();
    shared.publisher.flush().await;
    shared.outbox.close().await;
    shared.store.close().await;
    let _ = server.await;
    info!("audit relay stopped");
    outcome
}

/// Migrates the store, retrying until it works: nothing can be stored
/// before its table exists. Returns false if shutdown came first.
async fn prepare(shared: &Shared, shutdown: &CancellationToken) -> bool {
    let config = &shared.config;
    let mut backoff = Backoff::new(config.min_backoff, config.max_backoff);
    loop {
        // Index builds on a large store may take a while; a dead server is
        // caught sooner by the pool's acquire timeout.
        let attempt = stage(
            Stage::Migrate,
            MIGRATION_TIMEOUT,
            store::migrate(&shared.store),
        );
        let attempted = tokio::select! {
            attempted = attempt => attempted,
            _ = shutdown.cancelled() => return false,
        };
        match attempted {
            Ok(()) => {
                info!("audit store ready");
                return true;
            }
            Err(failure) => {
                if !failure_is_retried(shared, &failure, &mut backoff, shutdown).await {
                    return false;
                }
            }
        }
    }
}

/// Makes the store's TimescaleDB policies match the configuration, retrying
/// failures (an unreachable store, a lock wait past the stage timeout) until
/// it has worked once.
async fn apply_policies(shared: Arc<Shared>, shutdown: CancellationToken) {
    let config = &shared.config;
    let policies = store::Policies {
        retention: config.retention,
        compress_after: config.compress_after,
    };
    let mut backoff = Backoff::new(config.min_backoff, config.max_backoff);
    loop {
        let attempt = stage(
            Stage::Policies,
            config.stage_timeout,
            store::apply_policies(&shared.store, &policies),
        );
        let attempted = tokio::select! {
            attempted = attempt => attempted,
            _ = shutdown.cancelled() => return,
        };
        match attempted {
            Ok(applied) => {
                shared.health.set_policies(applied);
                return;
            }
            Err(failure) => {
                if !failure_is_retried(&shared, &failure, &mut backoff, &shutdown).await {
                    return;
                }
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

/// One worker: batches strictly one after another, so each object's events
/// reach the stream in order. While a full batch is being delivered, the
/// next one is claimed alongside; it is delivered only after the first has
/// committed, and released if the first fails.
async fn worker(id: u16, shared: Arc<Shared>, shutdown: CancellationToken) {
    let config = &shared.config;
    let mut backoff = Backoff::new(config.min_backoff, config.max_backoff);
    // Adaptive polling: the first look after work comes soon, each empty
    // look doubles the wait up to --poll-interval, so an idle relay costs a
    // few queries a second and a busy one none extra. (Jitter keeps
    // replicas from polling in step.)
    let mut idle = Backoff::new(config.poll_min_interval, config.poll_interval);
    let mut prefetched: Option<Batch> = None;
    while !shutdown.is_cancelled() {
        let batch = match prefetched.take() {
            Some(batch) => batch,
            None => match claim(&shared).await {
                Ok(Some(batch)) => batch,
                Ok(None) => {
                    backoff.reset();
                    wait_for_work(&shared, idle.next_delay(), &shutdown).await;
                    continue;
                }
                Err(failure) => {
                    if !failure_is_retried(&shared, &failure, &mut backoff, &shutdown).await {
                        break;
                    }
                    continue;
                }
            },
        };
        idle.reset();
        let full = batch.events.len() == config.batch_size as usize;
        let (delivered, next) = if full {
            tokio::join!(deliver(&shared, batch), claim(&shared))
        } else {
            (deliver(&shared, batch).await, Ok(None))
        };
        match (delivered, next) {
            (Ok(()), Ok(next)) => {
                backoff.reset();
                if full && next.is_some() {
                    // More is probably waiting: let an idle peer help.
                    shared.wake.notify_one();
                } else if !full {
                    // The outbox had less than a batch: the next look comes
                    // after --poll-min-interval, so that what trickles in
                    // meanwhile goes as one batch.
                    wait_for_work(&shared, idle.next_delay(), &shutdown).await;
                }
                // A full batch followed by an empty claim loops straight
                // back: whatever arrived meanwhile gets a look at once.
                prefetched = next;
            }
            (Ok(()), Err(failure)) => {
                if !failure_is_retried(&shared, &failure, &mut backoff, &shutdown).await {
                    break;
                }
            }
            (Err(failure), next) => {
                if let Ok(Some(next)) = next {
                    release(&shared, next).await;
                }
                if !failure_is_retried(&shared, &failure, &mut backoff, &shutdown).await {
                    break;
                }
            }
        }
    }
    if let Some(batch) = prefetched {
        release(&shared, batch).await;
    }
    debug!(worker = id, "worker stopped");
}

async fn wait_for_work(shared: &Shared, delay: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        _ = shared.wake.notified() => {}
        _ = tokio::time::sleep(delay) => {}
        _ = shutdown.cancelled() => {}
    }
}

/// Claimed outbox rows, taken out of the outbox by a transaction that is
/// still open.
struct Batch {
    tx: Transaction<'static, Postgres>,
    events: Vec<OutboxEvent>,
    claimed_at: Instant,
}

/// Claims the next batch; `None` when the outbox holds nothing unclaimed.
async fn claim(shared: &Shared) -> Result<Option<Batch>, Failure> {
    let timeout = shared.config.stage_timeout;
    // A look costs one statement; claiming from an empty outbox would cost
    // three (BEGIN, the claim, ROLLBACK) on every idle poll.
    let waiting = stage(Stage::Claim, timeout, outbox::has_waiting(&shared.outbox)).await?;
    if !waiting {
        shared.health.set_ok();
        return Ok(None);
    }
    let claimed_at = Instant::now();
    let mut tx = stage(Stage::Claim, timeout, shared.outbox.begin()).await?;
    let claiming = outbox::claim(&mut tx, shared.config.batch_size);
    let events = stage(Stage::Claim, timeout, claiming).await?;
    if events.is_empty() {
        // Everything waiting is held by another worker or replica.
        stage(Stage::Claim, timeout, tx.rollback()).await?;
        shared.health.set_ok();
        return Ok(None);
    }
    Ok(Some(Batch {
        tx,
        events,
        claimed_at,
    }))
}

/// Publishes and stores the batch, then commits its removal from the outbox.
///
/// NATS and the store get the batch at the same time and both must succeed
/// before the commit. Both writes are idempotent (message id, ON CONFLICT), so
/// any failure simply leaves the rows to be relayed again.
async fn deliver(shared: &Shared, batch: Batch) -> Result<(), Failure> {
    let Batch {
        tx,
        events,
        claimed_at,
    } = batch;
    let delivering = Instant::now();
    let new_in_store = match publish_and_store(shared, &events).await {
        Ok(new_in_store) => new_in_store,
        Err(failure) => {
            release_tx(shared, tx).await;
            return Err(failure);
        }
    };
    let delivered = delivering.elapsed();
    stage(Stage::Commit, shared.config.stage_timeout, tx.commit()).await?;

    let metrics = &shared.metrics;
    metrics.relayed.inc_by(events.len() as u64);
    metrics.stored.inc_by(new_in_store);
    metrics.batches.inc();
    metrics
        .batch_duration
        .observe(claimed_at.elapsed().as_secs_f64());
    shared.health.set_ok();
    debug!(events = events.len(), new_in_store, elapsed = ?claimed_at.elapsed(), ?delivered, "batch relayed");
    Ok(())
}

/// Returns how many events were new to the store.
async fn publish_and_store(shared: &Shared, events: &[OutboxEvent]) -> Result<u64, Failure> {
    let timeout = shared.config.stage_timeout;
    if !shared.publisher.stream_is_ready() {
        stage(Stage::Stream, timeout, shared.publisher.ensure_stream()).await?;
    }
    // Holding a store connection before publishing means an unreachable store
    // costs no publish at all, which keeps replays within the duplicate window.
    let mut store_conn = stage(Stage::Store, timeout, shared.store.acquire()).await?;
    let publish = stage(Stage::Publish, timeout, shared.publisher.publish(events));
    let insert = stage(
        Stage::Store,
        timeout,
        store::insert(&mut store_conn, events),
    );
    let (published, stored) = tokio::join!(publish, insert);
    published?;
    stored
}

/// Gives a batch back to the outbox now, rather than whenever the pool next
/// touches its connection.
async fn release(shared: &Shared, batch: Batch) {
    release_tx(shared, batch.tx).await;
}

async fn release_tx(shared: &Shared, tx: Transaction<'static, Postgres>) {
    // A connection too broken to roll back is closed, and the server rolls
    // back what it held.
    let _ = tokio::time::timeout(shared.config.stage_timeout, tx.rollback()).await;
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
