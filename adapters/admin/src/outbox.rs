//! Creating records the way the app does: one SQL statement inserts the row
//! and its audit event into `audit_outbox` (a data-modifying CTE, as
//! `kit::crud::create`), so the row never exists without its event.

use anyhow::{Context, Result};
use chrono::SecondsFormat;
use domain::entity::{Entity, SqlValue};
use domain::write::ACTOR_UNCHECKED;
use sqlx::postgres::{PgArguments, PgConnection};
use sqlx::query::Query;
use sqlx::{Executor, Postgres, Row};
use uuid::Uuid;

/// The `operation` of every audit event this tool writes.
pub const OPERATION: &str = "spintemp-admin";

/// A request id for one run of the tool; every event of the run carries it,
/// as every event of one HTTP request carries that request's id.
pub fn request_id() -> String {
    format!("{OPERATION}-{}", Uuid::now_v7())
}

/// Inserts `columns` (plus `id`, and `actor` as `created_by`/`updated_by`)
/// into `entity`'s table with its `create` event, acted by `actor`.
///
/// Returns `false`, writing nothing, when a unique key (the email, the code)
/// is taken: `ON CONFLICT DO NOTHING` leaves `created` empty, and the event
/// is selected from `created`, so no event is written for a row that was
/// already there.
pub async fn create(
    conn: &mut PgConnection,
    entity: &Entity,
    id: Uuid,
    actor: Uuid,
    columns: &[(&'static str, SqlValue)],
    request_id: &str,
) -> Result<bool> {
    // The app's own statement (domain::write); the tool holds no token, so
    // its actor is unchecked and $6, $7 (a token's admin and iat) are NULL.
    let sql = entity.create_statement(ACTOR_UNCHECKED, columns);
    let mut query = sqlx::query(&sql)
        .bind(id.to_string())
        .bind(actor.to_string())
        .bind(Uuid::now_v7().to_string())
        .bind(OPERATION)
        .bind(request_id.to_owned())
        .bind(None::<bool>)
        .bind(None::<i64>);
    for (_, value) in columns {
        query = bind(query, value);
    }
    let created: Option<String> = conn
        .fetch_one(query)
        .await
        .and_then(|row| row.try_get(1))
        .with_context(|| format!("cannot create the {}", entity.object_type))?;
    Ok(created.is_some())
}

/// Binds `value` for the placeholder [`SqlValue::placeholder`] wrote. Every
/// placeholder carries a cast, so uuids, instants and JSON go as text and
/// Postgres converts them (no sqlx type features needed).
fn bind<'q>(
    query: Query<'q, Postgres, PgArguments>,
    value: &SqlValue,
) -> Query<'q, Postgres, PgArguments> {
    match value {
        SqlValue::Text(text) => query.bind(text.clone()),
        SqlValue::OptionalText(text) => query.bind(text.clone()),
        SqlValue::Json(json) => query.bind(json.to_string()),
        SqlValue::Instant(t) => query.bind(t.to_rfc3339_opts(SecondsFormat::Micros, true)),
        SqlValue::Bool(b) => query.bind(*b),
        SqlValue::Uuid(u) => query.bind(u.to_string()),
        SqlValue::OptionalUuid(u) => query.bind(u.map(|u| u.to_string())),
        SqlValue::Int(i) => query.bind(*i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_name_the_tool_and_differ() {
        let id = request_id();
        assert!(id.starts_with("spintemp-admin-"), "{id}");
        let uuid = Uuid::parse_str(id.trim_start_matches("spintemp-admin-")).unwrap();
        assert_eq!(uuid.get_version_num(), 7);
        assert_ne!(request_id(), id);
    }
}
