//! Reads: one record (through the cache) and keyset pages.

use super::{record, version_of};
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

pub fn get(ctx: &Ctx, entity: &Entity) -> Result<Reply, ApiError> {
    get_by_id(entity, ctx.id_param()?)
}

/// The record `id`, from the cache when it is there.
pub fn get_by_id(entity: &Entity, id: Uuid) -> Result<Reply, ApiError> {
    record(200, with_embeds(entity, body_of(entity, id)?)?)
}

/// The stored JSON of record `id`: from the cache, or from Postgres (and
/// then cached). A cached entry that is not a versioned record (written by
/// something else, say) is read again from Postgres, not served.
fn body_of(entity: &Entity, id: Uuid) -> Result<Vec<u8>, ApiError> {
    let cache = Cache::open();
    let key = cache::key(entity.object_type, id);
    if let Some(body) = cache.get(&key).filter(|body| version_of(body).is_some()) {
        return Ok(body);
    }
    let body = stored_json(entity, id)?;
    cache.put(&key, &body);
    Ok(body)
}

/// The record read from Postgres, never from the cache: for a decision
/// taken on what it holds now.
pub fn current(entity: &Entity, id: Uuid) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(&stored_json(entity, id)?)
        .map_err(|_| ApiError::Internal("a record that is not JSON".to_owned()))
}

fn stored_json(entity: &Entity, id: Uuid) -> Result<Vec<u8>, ApiError> {
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
    db::json(&row[0]).ok_or(ApiError::NotFound)
}

/// `body` with the entity's embedded fields (a promotion's `customerName`)
/// as the other records hold them now. They are read through the other
/// entity's cache, which that entity's writes invalidate: so a renamed
/// customer shows its new name in the very next read of its promotions,
/// though theirs are cached. Keys stay in byte order.
pub(super) fn with_embeds(entity: &Entity, body: Vec<u8>) -> Result<Vec<u8>, ApiError> {
    if entity.embeds.is_empty() {
        return Ok(body);
    }
    let not_json = || {
        ApiError::Internal(format!(
            "a {} that is not a JSON object",
            entity.object_type
        ))
    };
    let mut record: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&body).map_err(|_| not_json())?;
    for embed in entity.embeds {
        let other = record
            .get(embed.id_field)
            .and_then(|v| v.as_str())
            .and_then(|id| Uuid::try_parse(id).ok());
        let value = match other {
            Some(id) => match body_of(embed.entity, id) {
                Ok(other) => serde_json::from_slice::<serde_json::Value>(&other)
                    .ok()
                    .and_then(|mut v| v.get_mut(embed.source_field).map(serde_json::Value::take))
                    .unwrap_or_default(),
                // The foreign key keeps it from happening; say nothing
                // rather than fail the read.
                Err(ApiError::NotFound) => serde_json::Value::Null,
                Err(e) => return Err(e),
            },
            None => serde_json::Value::Null,
        };
        record.insert(embed.name.to_owned(), value);
    }
    serde_json::to_vec(&record).map_err(|_| not_json())
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
        let any: Vec<String> = entity
            .search_columns
            .iter()
            .map(|column| format!("t.{column} ILIKE '%' || {p} || '%' ESCAPE '\\'"))
            .collect();
        conditions.push(format!("({})", any.join(" OR ")));
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
    let item = if entity.embeds.is_empty() {
        format!("t.{}", entity.json_column)
    } else {
        let embeds: Vec<String> = entity
            .embeds
            .iter()
            .map(|e| format!("'{}', {}", e.name, e.sql))
            .collect();
        format!(
            "compact_json(t.{}::jsonb || jsonb_build_object({}))",
            entity.json_column,
            embeds.join(", ")
        )
    };
    let sql = db::page_query(
        &format!("{item} AS item, t.id::text AS last_id"),
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
