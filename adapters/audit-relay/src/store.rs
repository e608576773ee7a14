//! The audit store: schema, batch insert, TimescaleDB policies.

use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::PgConnection;
use tracing::{info, warn};

use crate::event::OutboxEvent;
use crate::outbox::connect_options;
use crate::policy::PolicyAge;

/// One statement for the whole batch: arrays in, rows out. A replayed event
/// hits the (id, occurred_at) key and is skipped.
const INSERT: &str = "\
    INSERT INTO audit_events
        (id, occurred_at, object_type, object_id, action, operation, actor, before, after, request_id)
    SELECT id, occurred_at, object_type, object_id, action, operation, actor,
           before::jsonb, after::jsonb, request_id
    FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::uuid[], $5::text[],
                $6::text[], $7::uuid[], $8::text[], $9::text[], $10::text[])
        AS e(id, occurred_at, object_type, object_id, action, operation, actor, before, after, request_id)
    ON CONFLICT DO NOTHING";

/// The audit store schema. Versions start at 1001 and ignore the app's, so
/// both sets can share one `_sqlx_migrations` table in one database.
pub fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("../../infra/migrations/audit");
    migrator.set_ignore_missing(true);
    migrator
}

pub fn pool(url: &str, max_connections: u32, stage_timeout: Duration) -> Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(stage_timeout)
        .connect_lazy_with(connect_options(url)?))
}

/// Applies the audit migrations; sqlx's advisory lock lets several replicas
/// start at once.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    migrator()
        .run(pool)
        .await
        .context("cannot migrate the audit store")
}

/// Inserts the batch; returns how many events were new to the store.
pub async fn insert(conn: &mut PgConnection, events: &[OutboxEvent]) -> sqlx::Result<u64> {
    let column = |f: fn(&OutboxEvent) -> &str| events.iter().map(f).collect::<Vec<_>>();
    let done = sqlx::query(INSERT)
        .bind(events.iter().map(|e| e.id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
        .bind(column(|e| &e.object_type))
        .bind(events.iter().map(|e| e.object_id).collect::<Vec<_>>())
        .bind(column(|e| &e.action))
        .bind(column(|e| &e.operation))
        .bind(events.iter().map(|e| e.actor).collect::<Vec<_>>())
        .bind(
            events
                .iter()
                .map(|e| e.before.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.after.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(column(|e| &e.request_id))
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Retention and compression settings for a TimescaleDB store. `None`
/// removes the policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policies {
    pub retention: Option<PolicyAge>,
    pub compress_after: Option<PolicyAge>,
}

/// What [`apply_policies`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The store is a plain Postgres table: there is nothing to apply.
    NotHypertable,
    Hypertable {
        retention: Change,
        compression: Change,
    },
}

/// What happened to one policy's TimescaleDB job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Neither configured nor present.
    None,
    /// Present with the configured age: left alone, job id and history kept.
    Unchanged,
    Added,
    /// Present with another age: removed and added again.
    Replaced,
    Removed,
}

/// The compression settings the relay enables: segments per object type keep
/// compressed chunks few and large; the order matches the keyset pagination.
const SEGMENT_BY: &str = "object_type";
const ORDER_BY: &str = "occurred_at DESC,id DESC";

/// Makes the store's TimescaleDB jobs match `policies`, touching a job only
/// when its configuration differs: removing and adding a job resets its
/// history, cancels a run in progress, and a new retention job runs at once.
/// On a plain Postgres store there is nothing to apply; configured policies
/// are reported as ignored.
pub async fn apply_policies(pool: &PgPool, policies: &Policies) -> Result<Applied> {
    let mut tx = pool.begin().await?;
    // Replicas starting together would otherwise both see a job missing and
    // both add it. Taken before anything else, so that one lock orders them
    // on either kind of store.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('audit-relay policies'))")
        .execute(&mut *tx)
        .await?;
    if !is_hypertable(&mut tx).await? {
        if policies.retention.is_some() || policies.compress_after.is_some() {
            warn!(
                "the audit store is plain Postgres: retention and compression settings are ignored"
            );
        }
        return Ok(Applied::NotHypertable);
    }
    let compression = apply_compression(&mut tx, policies.compress_after).await?;
    let retention = apply_retention(&mut tx, policies.retention).await?;
    tx.commit().await?;
    info!(retention = %describe(policies.retention, retention),
          compression = %describe(policies.compress_after, compression),
          "TimescaleDB policies in place");
    Ok(Applied::Hypertable {
        retention,
        compression,
    })
}

fn describe(age: Option<PolicyAge>, change: Change) -> String {
    match age {
        Some(age) => format!("{age} ({change:?})"),
        None => format!("none ({change:?})"),
    }
}

async fn is_hypertable(conn: &mut PgConnection) -> sqlx::Result<bool> {
    let timescale: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')",
    )
    .fetch_one(&mut *conn)
    .await?;
    if !timescale {
        return Ok(false);
    }
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables
                        WHERE hypertable_schema = current_schema() AND hypertable_name = 'audit_events')",
    )
    .fetch_one(conn)
    .await
}

/// One TimescaleDB policy of audit_events: the job's procedure, the config
/// key holding its age, and how to add and remove it.
struct Job {
    name: &'static str,
    proc_name: &'static str,
    key: &'static str,
    add: &'static str,
    remove: &'static str,
}

const RETENTION: Job = Job {
    name: "retention",
    proc_name: "policy_retention",
    key: "drop_after",
    add: "SELECT add_retention_policy('audit_events', drop_after => $1::interval)",
    remove: "SELECT remove_retention_policy('audit_events', if_exists => true)",
};

const COMPRESSION: Job = Job {
    name: "compression",
    proc_name: "policy_compression",
    key: "compress_after",
    add: "SELECT add_compression_policy('audit_events', compress_after => $1::interval)",
    remove: "SELECT remove_compression_policy('audit_events', if_exists => true)",
};

async fn apply_compression(
    conn: &mut PgConnection,
    compress_after: Option<PolicyAge>,
) -> Result<Change> {
    if compress_after.is_some() {
        ensure_compression_settings(&mut *conn).await?;
    }
    reconcile(conn, &COMPRESSION, compress_after).await
}

async fn apply_retention(conn: &mut PgConnection, retention: Option<PolicyAge>) -> Result<Change> {
    reconcile(conn, &RETENTION, retention).await
}

/// Adds, replaces or removes the job so that it matches `age`, and leaves
/// it alone when it already does.
async fn reconcile(conn: &mut PgConnection, job: &Job, age: Option<PolicyAge>) -> Result<Change> {
    // Both sides go through Postgres's interval type, so `1 year` and
    // `12 months` are the same age, while `1 mon` and `30 days` are not (to
    // TimescaleDB either: it subtracts the interval from now()).
    let same_age: Option<bool> = sqlx::query_scalar(
        "SELECT (config->>$2)::interval::text IS NOT DISTINCT FROM $3::interval::text
         FROM timescaledb_information.jobs
         WHERE hypertable_schema = current_schema() AND hypertable_name = 'audit_events'
           AND proc_name = $1
         ORDER BY job_id LIMIT 1",
    )
    .bind(job.proc_name)
    .bind(job.key)
    .bind(age.map(PolicyAge::interval))
    .fetch_optional(&mut *conn)
    .await
    .with_context(|| format!("cannot read the {} job of audit_events", job.name))?;
    let change = match (same_age, age) {
        (None, None) => Change::None,
        (None, Some(_)) => Change::Added,
        (Some(_), None) => Change::Removed,
        (Some(true), Some(_)) => Change::Unchanged,
        (Some(false), Some(_)) => Change::Replaced,
    };
    if matches!(change, Change::Removed | Change::Replaced) {
        sqlx::query(job.remove)
            .execute(&mut *conn)
            .await
            .with_context(|| format!("cannot remove the {} policy", job.name))?;
    }
    if let (Change::Added | Change::Replaced, Some(age)) = (change, age) {
        sqlx::query(job.add)
            .bind(age.interval())
            .execute(&mut *conn)
            .await
            .with_context(|| format!("cannot add a {} policy of {age}", job.name))?;
    }
    Ok(change)
}

/// Enables compression with the relay's settings where it is off. Where it is
/// on with other settings (an operator's choice, or an older relay's), they
/// are left alone: changing them does not touch chunks already compressed,
/// and queries give the same answers either way; only their speed differs.
async fn ensure_compression_settings(conn: &mut PgConnection) -> Result<()> {
    let enabled: bool = sqlx::query_scalar(
        "SELECT compression_enabled FROM timescaledb_information.hypertables
         WHERE hypertable_schema = current_schema() AND hypertable_name = 'audit_events'",
    )
    .fetch_one(&mut *conn)
    .await?;
    if !enabled {
        sqlx::query(&format!(
            "ALTER TABLE audit_events SET (
                 timescaledb.compress,
                 timescaledb.compress_segmentby = '{SEGMENT_BY}',
                 timescaledb.compress_orderby = '{ORDER_BY}')"
        ))
        .execute(&mut *conn)
        .await
        .context("cannot enable compression on audit_events")?;
        return Ok(());
    }
    let (segment_by, order_by): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT segmentby, orderby FROM timescaledb_information.hypertable_compression_settings
         WHERE hypertable = 'audit_events'::regclass",
    )
    .fetch_optional(&mut *conn)
    .await
    .context("cannot read the compression settings of audit_events")?
    .unwrap_or_default();
    if segment_by.as_deref() != Some(SEGMENT_BY) || order_by.as_deref() != Some(ORDER_BY) {
        warn!(
            segmentby = ?segment_by, orderby = ?order_by,
            relay_segmentby = SEGMENT_BY, relay_orderby = ORDER_BY,
            "audit_events is compressed with other settings than the relay's; left as they are"
        );
    }
    Ok(())
}
