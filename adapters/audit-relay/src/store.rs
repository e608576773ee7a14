//! The audit store: schema, batch insert, TimescaleDB policies.

use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::PgConnection;
use tracing::{info, warn};

use crate::event::OutboxEvent;
use crate::outbox::connect_options;

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

/// Retention and compression settings for a TimescaleDB store, as Postgres
/// interval text ("400 days"). `None` removes the policy.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    pub retention: Option<String>,
    pub compress_after: Option<String>,
}

/// Makes the store's TimescaleDB jobs match `policies`. On a plain Postgres
/// store there is nothing to apply; configured policies are reported as
/// ignored.
pub async fn apply_policies(pool: &PgPool, policies: &Policies) -> Result<()> {
    let mut tx = pool.begin().await?;
    if !is_hypertable(&mut tx).await? {
        if policies.retention.is_some() || policies.compress_after.is_some() {
            warn!(
                "the audit store is plain Postgres: retention and compression settings are ignored"
            );
        }
        return Ok(());
    }
    // Replicas starting together would otherwise race remove against add.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('audit-relay policies'))")
        .execute(&mut *tx)
        .await?;
    apply_compression(&mut tx, policies.compress_after.as_deref()).await?;
    apply_retention(&mut tx, policies.retention.as_deref()).await?;
    tx.commit().await?;
    info!(retention = ?policies.retention, compress_after = ?policies.compress_after,
          "TimescaleDB policies applied");
    Ok(())
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

async fn apply_compression(conn: &mut PgConnection, compress_after: Option<&str>) -> Result<()> {
    sqlx::query("SELECT remove_compression_policy('audit_events', if_exists => true)")
        .execute(&mut *conn)
        .await
        .context("cannot remove the compression policy")?;
    let Some(compress_after) = compress_after else {
        return Ok(());
    };
    let enabled: bool = sqlx::query_scalar(
        "SELECT compression_enabled FROM timescaledb_information.hypertables
         WHERE hypertable_schema = current_schema() AND hypertable_name = 'audit_events'",
    )
    .fetch_one(&mut *conn)
    .await?;
    if !enabled {
        // Segments per object type keep compressed chunks few and large;
        // ordering matches the keyset pagination.
        sqlx::query(
            "ALTER TABLE audit_events SET (
                 timescaledb.compress,
                 timescaledb.compress_segmentby = 'object_type',
                 timescaledb.compress_orderby = 'occurred_at DESC, id DESC')",
        )
        .execute(&mut *conn)
        .await
        .context("cannot enable compression on audit_events")?;
    }
    sqlx::query("SELECT add_compression_policy('audit_events', compress_after => $1::interval)")
        .bind(compress_after)
        .execute(&mut *conn)
        .await
        .with_context(|| format!("cannot add a compression policy after {compress_after:?}"))?;
    Ok(())
}

async fn apply_retention(conn: &mut PgConnection, retention: Option<&str>) -> Result<()> {
    sqlx::query("SELECT remove_retention_policy('audit_events', if_exists => true)")
        .execute(&mut *conn)
        .await
        .context("cannot remove the retention policy")?;
    if let Some(retention) = retention {
        sqlx::query("SELECT add_retention_policy('audit_events', drop_after => $1::interval)")
            .bind(retention)
            .execute(&mut *conn)
            .await
            .with_context(|| format!("cannot add a retention policy of {retention:?}"))?;
    }
    Ok(())
}
