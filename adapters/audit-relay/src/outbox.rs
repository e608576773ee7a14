//! The app database side: claiming and deleting `audit_outbox` rows.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, Transaction};

use crate::event::OutboxEvent;

/// Claims by deleting: the rows vanish for everyone else only when the
/// transaction commits, which the relay does after NATS and the store have
/// the batch; until then they are locked, so other replicas skip them, and a
/// rollback or a crash puts them back. One pass instead of lock-then-delete.
const CLAIM: &str = "\
    DELETE FROM audit_outbox
    WHERE seq IN (SELECT seq FROM audit_outbox ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
    RETURNING seq, id, occurred_at, object_type, object_id, action, operation, actor,
              before::text AS before, after::text AS after, request_id";

/// Parses a database URL and names the relay's sessions in `pg_stat_activity`.
pub fn connect_options(url: &str) -> Result<PgConnectOptions> {
    Ok(PgConnectOptions::from_str(url)
        .context("invalid database URL")?
        .application_name("audit-relay"))
}

/// A pool that connects on first use, so the relay starts (and serves
/// /healthz) while the database is still unreachable.
///
/// `idle_in_transaction_session_timeout` makes the server end a session
/// whose relay vanished mid-batch behind a silent network failure, so its
/// claimed rows do not stay locked until TCP gives up.
pub fn pool(url: &str, max_connections: u32, stage_timeout: Duration) -> Result<PgPool> {
    let idle_in_tx = (stage_timeout * 4).as_millis().to_string();
    let options = connect_options(url)?
        .options([("idle_in_transaction_session_timeout", idle_in_tx.as_str())]);
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(stage_timeout)
        .connect_lazy_with(options))
}

/// Takes up to `limit` of the oldest unclaimed rows out of the outbox for
/// this transaction, oldest first. Rows other replicas hold are skipped, not
/// waited for.
pub async fn claim(
    tx: &mut Transaction<'_, Postgres>,
    limit: u32,
) -> sqlx::Result<Vec<OutboxEvent>> {
    let mut events = sqlx::query_as::<_, OutboxEvent>(CLAIM)
        .bind(i64::from(limit))
        .fetch_all(&mut **tx)
        .await?;
    // RETURNING has no order; publishing in seq order keeps each object's
    // events in order in the stream.
    events.sort_unstable_by_key(|event| event.seq);
    Ok(events)
}

/// Whether any row waits in the outbox (claimed by someone or not): the
/// relay's poll, one indexed read that commits nothing.
pub async fn has_waiting(pool: &PgPool) -> sqlx::Result<bool> {
    let first: Option<i64> =
        sqlx::query_scalar("SELECT seq FROM audit_outbox ORDER BY seq LIMIT 1")
            .fetch_optional(pool)
            .await?;
    Ok(first.is_some())
}

/// How far behind the relay is: rows waiting, and the age in seconds of the
/// oldest one (0 when none wait).
pub async fn backlog(conn: &mut PgConnection) -> sqlx::Result<(i64, f64)> {
    sqlx::query_as(
        "SELECT count(*),
                GREATEST(COALESCE(EXTRACT(EPOCH FROM now() - min(occurred_at))::float8, 0), 0)
         FROM audit_outbox",
    )
    .fetch_one(conn)
    .await
}
