//! Reading the audit store (`audit_events`, filled by audit-relay). It may be
//! another database than the app's, reached through `audit_db_url`.

use crate::db::{self, Binds};
use crate::error::ApiError;
use crate::request::Ctx;
use crate::response::Reply;
use domain::audit::{AuditCursor, AuditQuery};
use domain::entity::SqlValue;
use spin_sdk::pg4::{DbValue, ParameterValue};
use uuid::Uuid;

/// An event as the API shows it (DOMAIN.md "Audit event"), then its cursor
/// key: occurredAt in µs since the epoch, and id.
const SELECT_EVENT: &str = "SELECT jsonb_build_object( \
       'id', e.id, \
       'occurredAt', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
       'recordedAt', to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
       'objectType', e.object_type, 'objectId', e.object_id, 'action', e.action, \
       'operation', e.operation, 'actor', e.actor, 'before', e.before, 'after', e.after, \
       'requestId', e.request_id), \
     (extract(epoch FROM e.occurred_at) * 1000000)::int8, e.id \
     FROM audit_events e";

const NO_CONFLICT: &str = "";

pub fn get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let id = ctx.id_param()?;
    let db = db::connect_to("audit_db_url")?;
    let sql = format!("{SELECT_EVENT} WHERE e.id = $1::uuid LIMIT 1");
    let rows = db::query(
        &db,
        &sql,
        &[ParameterValue::Uuid(id.to_string())],
        NO_CONFLICT,
    )?;
    let body = db::first_jsonb(&rows).ok_or(ApiError::NotFound)?;
    Ok(Reply::json_bytes(200, body))
}

pub fn list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let query = AuditQuery::parse(&ctx.query).map_err(|errors| {
        ApiError::BadRequest("some query parameters are not valid".to_owned(), errors)
    })?;
    let mut binds = Binds::default();
    let mut conditions = Vec::new();
    let mut bind = |value: SqlValue| binds.bind(value);
    if let Some(c) = query.cursor {
        let micros = bind(SqlValue::Int(c.occurred_at_micros));
        let id = bind(SqlValue::Uuid(c.id));
        // Integer µs arithmetic: a float epoch would lose the last digit.
        conditions.push(format!(
            "(e.occurred_at, e.id) < (timestamptz 'epoch' + {micros} * interval '1 microsecond', {id})"
        ));
    }
    if let Some(v) = &query.object_type {
        conditions.push(format!(
            "e.object_type = {}",
            bind(SqlValue::Text(v.clone()))
        ));
    }
    if let Some(v) = query.object_id {
        conditions.push(format!("e.object_id = {}", bind(SqlValue::Uuid(v))));
    }
    if let Some(v) = query.actor {
        conditions.push(format!("e.actor = {}", bind(SqlValue::Uuid(v))));
    }
    if let Some(v) = &query.action {
        conditions.push(format!("e.action = {}", bind(SqlValue::Text(v.clone()))));
    }
    if let Some(t) = query.from {
        conditions.push(format!("e.occurred_at >= {}", bind(SqlValue::Instant(t))));
    }
    if let Some(t) = query.to {
        conditions.push(format!("e.occurred_at < {}", bind(SqlValue::Instant(t))));
    }
    let limit = bind(SqlValue::Int(query.limit + 1));
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql =
        format!("{SELECT_EVENT} {filter} ORDER BY e.occurred_at DESC, e.id DESC LIMIT {limit}");

    let db = db::connect_to("audit_db_url")?;
    let rows = db::query(&db, &sql, &binds.params(), NO_CONFLICT)?;
    let page = rows.rows.len().min(query.limit as usize);
    let next_cursor = (rows.rows.len() > page)
        .then(|| cursor_of(&rows.rows[page - 1]))
        .flatten()
        .map(|c| c.encode());
    let items = rows
        .rows
        .iter()
        .take(page)
        .filter_map(|row| db::jsonb(&row[0]));
    Ok(Reply::json_bytes(200, db::page_body(items, next_cursor)))
}

fn cursor_of(row: &[DbValue]) -> Option<AuditCursor> {
    let occurred_at_micros = db::int64(&row[1])?;
    let id = match &row[2] {
        DbValue::Uuid(id) => Uuid::try_parse(id).ok()?,
        _ => return None,
    };
    Some(AuditCursor {
        occurred_at_micros,
        id,
    })
}
