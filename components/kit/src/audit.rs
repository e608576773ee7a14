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

/// An event as the API shows it (DOMAIN.md "Audit event").
const EVENT_JSON: &str = "jsonb_build_object( \
       'id', e.id, \
       'occurredAt', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
       'recordedAt', to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
       'objectType', e.object_type, 'objectId', e.object_id, 'action', e.action, \
       'operation', e.operation, 'actor', e.actor, 'before', e.before, 'after', e.after, \
       'requestId', e.request_id)";

const NO_CONFLICT: &str = "";

/// Event ids are UUIDv7, made when the change is written (kit::crud), so an
/// id says roughly when its event occurred. The lookup bounds `occurred_at`
/// by that time (± a day, for clocks that disagree), which lets a
/// TimescaleDB store skip every other chunk instead of probing (and
/// decompressing) them all. Any other kind of id names no event.
pub fn get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let id = ctx.id_param()?;
    let made_at_micros = made_at_micros(id).ok_or(ApiError::NotFound)?;
    const DAY_MICROS: i64 = 86_400_000_000;
    let db = db::connect_to("audit_db_url")?;
    let sql = format!(
        "SELECT (SELECT {EVENT_JSON} FROM audit_events e WHERE e.id = $1::uuid \
           AND e.occurred_at BETWEEN {from} AND {to} LIMIT 1)",
        from = micros_to_timestamptz("$2::int8"),
        to = micros_to_timestamptz("$3::int8"),
    );
    let row = db::one_row(
        &db,
        &sql,
        &[
            ParameterValue::Uuid(id.to_string()),
            ParameterValue::Int64(made_at_micros.saturating_sub(DAY_MICROS)),
            ParameterValue::Int64(made_at_micros.saturating_add(DAY_MICROS)),
        ],
        NO_CONFLICT,
    )?;
    let body = db::json(&row[0]).ok_or(ApiError::NotFound)?;
    Ok(Reply::json_bytes(200, body))
}

/// The instant (µs since the epoch) a UUIDv7 was made.
fn made_at_micros(id: Uuid) -> Option<i64> {
    if id.get_version() != Some(uuid::Version::SortRand) {
        return None;
    }
    let (seconds, nanos) = id.get_timestamp()?.to_unix();
    i64::try_from(seconds)
        .ok()?
        .checked_mul(1_000_000)?
        .checked_add(i64::from(nanos / 1_000))
}

/// Integer µs arithmetic: a float epoch would lose the last digit.
fn micros_to_timestamptz(micros: &str) -> String {
    format!("(timestamptz 'epoch' + {micros} * interval '1 microsecond')")
}

pub fn list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let query = AuditQuery::parse(&ctx.query).map_err(|errors| {
        ApiError::BadRequest("some query parameters are not valid".to_owned(), errors)
    })?;
    let (sql, binds) = list_statement(&query);
    let db = db::connect_to("audit_db_url")?;
    let row = db::one_row(&db, &sql, &binds.params(), NO_CONFLICT)?;
    let next_cursor = db::boolean(&row[1])
        .then(|| cursor_of(&row[2], &row[3]))
        .flatten()
        .map(|c| c.encode());
    let items =
        db::json(&row[0]).ok_or_else(|| ApiError::Internal("a page without items".into()))?;
    Ok(Reply::json_bytes(200, db::page_body(items, next_cursor)))
}

/// The one statement a page of events is read with, and its parameters
/// (public so that the API tests can ask a TimescaleDB store for its plan).
pub fn list_statement(query: &AuditQuery) -> (String, Binds) {
    let mut binds = Binds::default();
    let mut conditions = Vec::new();
    let mut bind = |value: SqlValue| binds.bind(value);
    if let Some(c) = &query.cursor {
        let micros = bind(SqlValue::Int(c.occurred_at_micros));
        let id = bind(SqlValue::Uuid(c.id));
        let at = micros_to_timestamptz(&micros);
        // The row comparison alone excludes no TimescaleDB chunk; the plain
        // bound on the time column lets a deep page skip (and not
        // decompress) every newer chunk (tests/api audit_store.rs).
        conditions.push(format!(
            "e.occurred_at <= {at} AND (e.occurred_at, e.id) < ({at}, {id})"
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
    let limit = bind(SqlValue::Int(query.limit));
    // The cursor key of each event: occurredAt in µs since the epoch, and id.
    let sql = db::page_query(
        &format!(
            "{EVENT_JSON} AS item, \
             (extract(epoch FROM e.occurred_at) * 1000000)::int8 AS last_micros, \
             e.id::text AS last_id"
        ),
        &format!("FROM audit_events e {}", db::where_all(&conditions)),
        "e.occurred_at DESC, e.id DESC",
        &limit,
        &["last_micros", "last_id"],
        db::Items::Jsonb,
    );
    (sql, binds)
}

fn cursor_of(micros: &DbValue, id: &DbValue) -> Option<AuditCursor> {
    Some(AuditCursor {
        occurred_at_micros: db::int64(micros)?,
        id: Uuid::try_parse(db::text(id)?).ok()?,
    })
}
