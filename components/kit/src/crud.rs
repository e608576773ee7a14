//! List, get, create, update and delete for any entity. Each write is **one**
//! SQL statement (data-modifying CTEs) that changes the row and inserts its
//! audit event into `audit_outbox`, so the change and its event commit or fail
//! together. Reads of single records go through the cache.

use crate::auth::Caller;
use crate::cache::{self, Cache};
use crate::db::{self, Binds};
use crate::error::ApiError;
use crate::request::Ctx;
use crate::response::Reply;
use domain::entity::{Entity, SqlValue};
use domain::list::{encode_cursor, ListQuery};
use domain::text::like_escape;
use spin_sdk::pg4::ParameterValue;
use uuid::Uuid;

/// The parameters every write binds first: $1 record id, $2 actor, $3 event
/// id, $4 operation, $5 request id. Both ids are UUIDv7: time-ordered for
/// keyset pages, and audit-get finds an event's chunk by the time in its id.
fn write_params(ctx: &Ctx, id: Uuid, caller: &Caller) -> Vec<ParameterValue> {
    vec![
        ParameterValue::Uuid(id.to_string()),
        ParameterValue::Uuid(caller.id.to_string()),
        ParameterValue::Uuid(Uuid::now_v7().to_string()),
        ParameterValue::Str(ctx.operation.to_owned()),
        ParameterValue::Str(ctx.request_id.clone()),
    ]
}

/// The outbox row, selected from the CTE `source` (`before`/`after` are SQL
/// expressions over it).
fn audit_insert(entity: &Entity, action: &str, source: &str, before: &str, after: &str) -> String {
    format!(
        "INSERT INTO audit_outbox (id, object_type, object_id, action, operation, actor, before, after, request_id) \
         SELECT $3::uuid, '{object_type}', {source}.id, '{action}', $4::text, $2::uuid, {before}, {after}, $5::text \
         FROM {source}",
        object_type = entity.object_type,
    )
}

/// A record body with its `ETag`.
fn record(status: u16, body: Vec<u8>) -> Result<Reply, ApiError> {
    /// Only the version is read (for the ETag): every other field is
    /// skipped, not built into a JSON tree, on the warm read's path.
    #[derive(serde::Deserialize)]
    struct Versioned {
        version: i64,
    }
    let version = serde_json::from_slice::<Versioned>(&body)
        .map(|record| record.version)
        .map_err(|_| ApiError::Internal("record without a version".to_owned()))?;
    Ok(Reply::json_bytes(status, body).with_header("etag", format!("\"{version}\"")))
}

pub fn get(ctx: &Ctx, entity: &Entity) -> Result<Reply, ApiError> {
    let id = ctx.id_param()?;
    let cache = Cache::open();
    let key = cache::key(entity.object_type, id);
    if let Some(body) = cache.get(&key) {
        if let Ok(reply) = record(200, body) {
            return Ok(reply);
        }
    }
    let db = db::connect()?;
    let sql = format!(
        "SELECT (SELECT t.{json} FROM {table} t WHERE t.id = $1::uuid)",
        json = entity.json_column,
        table = entity.table
    );
    let row = db::one_row(
        &db,
        &sql,
        &[ParameterValue::Uuid(id.to_string())],
        entity.unique_violation,
    )?;
    let body = db::json(&row[0]).ok_or(ApiError::NotFound)?;
    cache.put(&key, &body);
    record(200, body)
}

pub fn list(ctx: &Ctx, entity: &Entity) -> Result<Reply, ApiError> {
    let query = ListQuery::parse(&ctx.query, entity).map_err(|errors| {
        ApiError::BadRequest("some query parameters are not valid".to_owned(), errors)
    })?;

    let mut conditions = Vec::new();
    let mut binds = Binds::default();
    if let Some(after) = query.after {
        let p = binds.bind(SqlValue::Uuid(after));
        conditions.push(format!("t.id > {p}"));
    }
    if let Some(q) = &query.q {
        let p = binds.bind(SqlValue::Text(like_escape(q)));
        conditions.push(format!(
            "t.{} ILIKE '%' || {p} || '%' ESCAPE '\\'",
            entity.name_column
        ));
    }
    if let Some(t) = query.valid_on {
        let p = binds.bind(SqlValue::Instant(t));
        conditions.push(format!("t.valid_from <= {p} AND t.valid_thru >= {p}"));
    }
    for (condition, value) in &query.filters {
        let p = binds.bind(value.clone());
        conditions.push(condition.replace("{}", &p));
    }
    let limit = binds.bind(SqlValue::Int(query.limit));
    let sql = db::page_query(
        &format!("t.{} AS item, t.id::text AS last_id", entity.json_column),
        &format!("FROM {} t {}", entity.table, db::where_all(&conditions)),
        "t.id",
        &limit,
        &["last_id"],
        db::Items::Text,
    );

    let db = db::connect()?;
    let row = db::one_row(&db, &sql, &binds.params(), entity.unique_violation)?;
    let next_cursor = db::boolean(&row[1])
        .then(|| db::text(&row[2]).and_then(|id| Uuid::try_parse(id).ok()))
        .flatten()
        .map(encode_cursor);
    let items =
        db::json(&row[0]).ok_or_else(|| ApiError::Internal("a page without items".into()))?;
    Ok(Reply::json_bytes(200, db::page_body(items, next_cursor)))
}

pub fn create(
    ctx: &Ctx,
    entity: &Entity,
    caller: &Caller,
    columns: Vec<(&'static str, SqlValue)>,
) -> Result<Reply, ApiError> {
    let id = Uuid::now_v7();
    let mut params = write_params(ctx, id, caller);
    let mut names = Vec::new();
    let mut placeholders = Vec::new();
    for (name, value) in &columns {
        params.push(db::param(value));
        names.push(*name);
        placeholders.push(value.placeholder(params.len()));
    }
    let (table, json) = (entity.table, entity.json_column);
    // ON CONFLICT DO NOTHING turns a duplicate into "no row" instead of an
    // error that Spin may only report as text.
    let sql = format!(
        "WITH created AS ( \
           INSERT INTO {table} AS t (id, created_by, updated_by, {names}) \
           VALUES ($1::uuid, $2::uuid, $2::uuid, {placeholders}) \
           ON CONFLICT DO NOTHING RETURNING t.* \
         ), event AS ({audit}) \
         SELECT (SELECT created.{json} FROM created)",
        names = names.join(", "),
        placeholders = placeholders.join(", "),
        audit = audit_insert(
            entity,
            "create",
            "created",
            "NULL",
            &format!("created.{json}::jsonb")
        ),
    );
    let db = db::connect()?;
    let row = db::one_row(&db, &sql, &params, entity.unique_violation)?;
    let body =
        db::json(&row[0]).ok_or_else(|| ApiError::Conflict(entity.unique_violation.to_owned()))?;
    let location = format!("{}/{id}", ctx.path.trim_end_matches('/'));
    Ok(record(201, body)?.with_header("location", location))
}

pub fn update(
    ctx: &Ctx,
    entity: &Entity,
    caller: &Caller,
    columns: Vec<(&'static str, SqlValue)>,
) -> Result<Reply, ApiError> {
    let id = ctx.id_param()?;
    let mut params = write_params(ctx, id, caller);
    params.push(expected_version(ctx));
    let mut assignments = Vec::new();
    for (name, value) in &columns {
        params.push(db::param(value));
        assignments.push(format!("{name} = {}", value.placeholder(params.len())));
    }
    let (table, json) = (entity.table, entity.json_column);
    // `current` locks the row and keeps its old image for the audit event;
    // its version tells 404 (no row) from 412 (row, other version).
    let sql = format!(
        "WITH current AS (SELECT * FROM {table} WHERE id = $1::uuid FOR UPDATE), \
         updated AS ( \
           UPDATE {table} AS t SET {assignments}, updated_at = now(), updated_by = $2::uuid, version = t.version + 1 \
           FROM current WHERE t.id = current.id AND ($6::int8 IS NULL OR current.version = $6::int8) \
           RETURNING t.* \
         ), event AS ({audit}) \
         SELECT (SELECT version FROM current), (SELECT updated.{json} FROM updated)",
        assignments = assignments.join(", "),
        audit = audit_insert(
            entity,
            "update",
            "updated",
            &format!("(SELECT current.{json}::jsonb FROM current)"),
            &format!("updated.{json}::jsonb")
        ),
    );
    let db = db::connect()?;
    let row = db::one_row(&db, &sql, &params, entity.unique_violation)?;
    if db::int64(&row[0]).is_none() {
        return Err(ApiError::NotFound);
    }
    let body = db::json(&row[1]).ok_or(ApiError::PreconditionFailed)?;
    Cache::open().invalidate(&cache::key(entity.object_type, id));
    record(200, body)
}

pub fn delete(ctx: &Ctx, entity: &Entity, caller: &Caller) -> Result<Reply, ApiError> {
    let id = ctx.id_param()?;
    let mut params = write_params(ctx, id, caller);
    params.push(expected_version(ctx));
    let (table, json) = (entity.table, entity.json_column);
    let sql = format!(
        "WITH current AS (SELECT * FROM {table} WHERE id = $1::uuid FOR UPDATE), \
         deleted AS ( \
           DELETE FROM {table} AS t USING current \
           WHERE t.id = current.id AND ($6::int8 IS NULL OR current.version = $6::int8) \
           RETURNING t.* \
         ), event AS ({audit}) \
         SELECT (SELECT version FROM current), (SELECT count(*) FROM deleted)",
        audit = audit_insert(
            entity,
            "delete",
            "deleted",
            &format!("deleted.{json}::jsonb"),
            "NULL"
        ),
    );
    let db = db::connect()?;
    let row = db::one_row(&db, &sql, &params, entity.unique_violation)?;
    if db::int64(&row[0]).is_none() {
        return Err(ApiError::NotFound);
    }
    if db::int64(&row[1]) != Some(1) {
        return Err(ApiError::PreconditionFailed);
    }
    Cache::open().invalidate(&cache::key(entity.object_type, id));
    Ok(Reply::no_content())
}

fn expected_version(ctx: &Ctx) -> ParameterValue {
    match ctx.if_match() {
        Some(version) => ParameterValue::Int64(version),
        None => ParameterValue::DbNull,
    }
}
