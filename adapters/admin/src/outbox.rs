//! Creating records the way the app does: one SQL statement inserts the row
//! and its audit event into `audit_outbox` (a data-modifying CTE, as
//! `kit::crud::create`), so the row never exists without its event.

use anyhow::{Context, Result};
use chrono::SecondsFormat;
use domain::entity::{Entity, SqlValue};
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
    // $1 record id, $2 actor, $3 event id, $4 operation, $5 request id, as
    // kit::crud binds them; the columns follow.
    const FIXED_PARAMS: usize = 5;
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let placeholders: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (_, value))| value.placeholder(FIXED_PARAMS + 1 + i))
        .collect();
    let (table, json, object_type) = (entity.table, entity.json_column, entity.object_type);
    let sql = format!(
        "WITH created AS ( \
           INSERT INTO {table} AS t (id, created_by, updated_by, {names}) \
           VALUES ($1::uuid, $2::uuid, $2::uuid, {placeholders}) \
           ON CONFLICT DO NOTHING RETURNING t.* \
         ), event AS ( \
           INSERT INTO audit_outbox (id, object_type, object_id, action, operation, actor, before, after, request_id) \
           SELECT $3::uuid, '{object_type}', created.id, 'create', $4::text, $2::uuid, NULL, created.{json}::jsonb, $5::text \
           FROM created \
         ) \
         SELECT count(*) FROM created",
        names = names.join(", "),
        placeholders = placeholders.join(", "),
    );
    let mut query = sqlx::query(&sql)
        .bind(id.to_string())
        .bind(actor.to_string())
        .bind(Uuid::now_v7().to_string())
        .bind(OPERATION)
        .bind(request_id.to_owned());
    for (_, value) in columns {
        query = bind(query, value);
    }
    let created: i64 = conn
        .fetch_one(query)
        .await
        .and_then(|row| row.try_get(0))
        .with_context(|| format!("cannot create the {object_type}"))?;
    Ok(created == 1)
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
