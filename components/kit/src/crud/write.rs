//! Writes: create, update (with the conditions a workflow needs) and
//! delete, each one statement with its audit event.

use super::read::with_embeds;
use super::record;
use crate::auth::Caller;
use crate::cache::{self, Cache};
use crate::db;
use crate::error::ApiError;
use crate::request::Ctx;
use crate::response::Reply;
use domain::entity::{Entity, Guard, SqlValue};
use domain::schema::references;
use domain::write::{ACTOR_UNCHECKED, ACTOR_WITH_TOKEN, FIXED_PARAMETERS};
use domain::FieldError;
use spin_sdk::pg4::{DbValue, ParameterValue};
use uuid::Uuid;

/// Who makes a change.
pub enum Actor<'a> {
    /// The holder of a verified token. The write happens only if the token's
    /// user still exists, is active and valid, still has the token's
    /// `admin`, and has not changed credentials since the token was issued
    /// (`users.tokens_valid_from`, set by the migrations' triggers): a
    /// deactivated, deleted or demoted user, or one whose password changed,
    /// can no longer write with a token issued before, though it has not
    /// expired yet.
    Token(&'a Caller),
    /// The record is its own actor: a user registering.
    Itself,
}

/// The parameters every write binds first (domain::write): $1 record id,
/// $2 actor, $3 event id, $4 operation, $5 request id, $6 and $7 the token's
/// `admin` and `iat` (NULL for [`Actor::Itself`]); updates and deletes then
/// bind $8, the version `If-Match` expects. Both ids are UUIDv7:
/// time-ordered for keyset pages, and audit-get finds an event's chunk by
/// the time in its id.
const EXPECTED_VERSION_PARAMETER: usize = FIXED_PARAMETERS + 1;

fn write_params(ctx: &Ctx, id: Uuid, actor: &Actor) -> Vec<ParameterValue> {
    let (actor_id, admin, issued_at) = match actor {
        Actor::Token(caller) => (
            caller.id,
            ParameterValue::Boolean(caller.admin),
            ParameterValue::Int64(caller.issued_at),
        ),
        Actor::Itself => (id, ParameterValue::DbNull, ParameterValue::DbNull),
    };
    vec![
        ParameterValue::Uuid(id.to_string()),
        ParameterValue::Uuid(actor_id.to_string()),
        ParameterValue::Uuid(Uuid::now_v7().to_string()),
        ParameterValue::Str(ctx.operation.to_owned()),
        ParameterValue::Str(ctx.request_id.clone()),
        admin,
        issued_at,
    ]
}

/// The CTE `actor`: one row when the actor may write, none otherwise.
fn actor_cte(actor: &Actor) -> &'static str {
    match actor {
        Actor::Token(_) => ACTOR_WITH_TOKEN,
        Actor::Itself => ACTOR_UNCHECKED,
    }
}

/// 401 when the statement's `actor` CTE was empty.
fn check_actor(count: &DbValue) -> Result<(), ApiError> {
    match db::int64(count) {
        Some(n) if n > 0 => Ok(()),
        _ => Err(ApiError::Unauthorized(
            "the token's user may no longer make changes (deactivated, demoted, deleted or \
             a new password since it was issued); log in again",
        )),
    }
}

pub fn create(
    ctx: &Ctx,
    entity: &Entity,
    actor: Actor,
    columns: Vec<(&'static str, SqlValue)>,
) -> Result<Reply, ApiError> {
    let id = Uuid::now_v7();
    let mut params = write_params(ctx, id, &actor);
    params.extend(columns.iter().map(|(_, value)| db::param(value)));
    let sql = entity.create_statement(actor_cte(&actor), &columns);
    let db = db::connect()?;
    let row = db::one_row(&db, &sql, &params, entity.unique_violation)?;
    check_actor(&row[0])?;
    check_references(entity, &row[2])?;
    let body =
        db::json(&row[1]).ok_or_else(|| ApiError::Conflict(entity.unique_violation.to_owned()))?;
    let location = format!("{}/{id}", entity.path);
    Ok(record(201, with_embeds(entity, body)?)?.with_header("location", location))
}

/// PUT: replaces the writable columns, if the entity's edit guard allows.
pub fn update(
    ctx: &Ctx,
    entity: &Entity,
    caller: &Caller,
    columns: Vec<(&'static str, SqlValue)>,
) -> Result<Reply, ApiError> {
    update_if(ctx, entity, caller, columns, Vec::new(), entity.edit_guard)
}

/// As [`update`], and only if each of `expected`'s columns still holds its
/// value (412 otherwise, as for a stale `If-Match`): for a change decided on
/// what was read before, such as a password checked against its hash or a
/// promotion's status. `guard` is the condition the row must meet at all
/// (409 otherwise).
pub fn update_if(
    ctx: &Ctx,
    entity: &Entity,
    caller: &Caller,
    columns: Vec<(&'static str, SqlValue)>,
    expected: Vec<(&'static str, SqlValue)>,
    guard: Option<&Guard>,
) -> Result<Reply, ApiError> {
    let id = ctx.id_param()?;
    let actor = Actor::Token(caller);
    let mut params = write_params(ctx, id, &actor);
    let expected_version = ctx.if_match();
    params.push(expected_version_param(expected_version));
    debug_assert_eq!(params.len(), EXPECTED_VERSION_PARAMETER);
    let refused = entity.refused_cte(&columns, EXPECTED_VERSION_PARAMETER + 1, true);
    let mut assignments = Vec::new();
    for (name, value) in &columns {
        params.push(db::param(value));
        assignments.push(format!("{name} = {}", value.placeholder(params.len())));
    }
    let mut still = String::new();
    for (name, value) in &expected {
        params.push(db::param(value));
        still.push_str(&format!(
            " AND current.{name} = {}",
            value.placeholder(params.len())
        ));
    }
    let (table, json) = (entity.table, entity.json_column);
    let allowed = guard.map_or("true", |g| g.sql);
    // `current` locks the row and keeps its old image for the audit event;
    // its version tells 404 (no row) from 412 (row, other version).
    let sql = format!(
        "WITH {actor}, current AS (SELECT * FROM {table} WHERE id = $1::uuid FOR UPDATE), {refused}, \
         updated AS ( \
           UPDATE {table} AS t SET {assignments}, updated_at = now(), updated_by = $2::uuid, version = t.version + 1 \
           FROM current WHERE t.id = current.id AND ($8::int8 IS NULL OR current.version = $8::int8){still} \
             AND ({allowed}) AND EXISTS (SELECT FROM actor) AND NOT EXISTS (SELECT FROM refused) \
           RETURNING t.* \
         ), event AS ({audit}) \
         SELECT (SELECT count(*) FROM actor), (SELECT version FROM current), (SELECT updated.{json} FROM updated), \
           (SELECT {allowed} FROM current), (SELECT jsonb_agg(jsonb_build_array(reference, path)) FROM refused)",
        actor = actor_cte(&actor),
        assignments = assignments.join(", "),
        audit = entity.audit_insert(
            "update",
            "updated",
            &format!("(SELECT current.{json}::jsonb FROM current)"),
            &format!("updated.{json}::jsonb")
        ),
    );
    let db = db::connect()?;
    let row = db::one_row(&db, &sql, &params, entity.unique_violation)?;
    check_actor(&row[0])?;
    check_current(&row[1], expected_version, guard, &row[3])?;
    check_references(entity, &row[4])?;
    let body = db::json(&row[2]).ok_or(ApiError::PreconditionFailed)?;
    Cache::open().invalidate(&cache::key(entity.object_type, id));
    record(200, with_embeds(entity, body)?)
}

pub fn delete(ctx: &Ctx, entity: &Entity, caller: &Caller) -> Result<Reply, ApiError> {
    let id = ctx.id_param()?;
    let actor = Actor::Token(caller);
    let mut params = write_params(ctx, id, &actor);
    let expected_version = ctx.if_match();
    params.push(expected_version_param(expected_version));
    let (table, json) = (entity.table, entity.json_column);
    let guard = entity.edit_guard;
    let allowed = guard.map_or("true", |g| g.sql);
    // How many records still refer to it, each kind counted apart. A
    // record that comes to refer to it while this runs is caught by the
    // foreign key instead (23503: 409 without the count).
    let holders: Vec<String> = entity
        .holders
        .iter()
        .map(|h| format!("({})", h.count))
        .collect();
    let holders = if holders.is_empty() {
        "ARRAY[]::int8[]".to_owned()
    } else {
        format!("ARRAY[{}]::int8[]", holders.join(", "))
    };
    let sql = format!(
        "WITH {actor}, current AS (SELECT * FROM {table} WHERE id = $1::uuid FOR UPDATE), \
         holders AS (SELECT {holders} AS counts), \
         deleted AS ( \
           DELETE FROM {table} AS t USING current \
           WHERE t.id = current.id AND ($8::int8 IS NULL OR current.version = $8::int8) \
             AND ({allowed}) AND EXISTS (SELECT FROM actor) \
             AND (SELECT coalesce(max(n), 0) = 0 FROM holders, unnest(holders.counts) AS n) \
           RETURNING t.* \
         ), event AS ({audit}) \
         SELECT (SELECT count(*) FROM actor), (SELECT version FROM current), (SELECT count(*) FROM deleted), \
           (SELECT {allowed} FROM current), (SELECT array_to_string(counts, ',') FROM holders)",
        actor = actor_cte(&actor),
        audit = entity.audit_insert(
            "delete",
            "deleted",
            &format!("deleted.{json}::jsonb"),
            "NULL"
        ),
    );
    let db = db::connect()?;
    let row = db::one_row(&db, &sql, &params, entity.unique_violation)?;
    check_actor(&row[0])?;
    check_current(&row[1], expected_version, guard, &row[3])?;
    let counts = db::text(&row[4]).unwrap_or_default();
    for (holder, count) in entity.holders.iter().zip(counts.split(',')) {
        if count != "0" {
            return Err(ApiError::Conflict(holder.conflict.replace("{}", count)));
        }
    }
    if db::int64(&row[2]) != Some(1) {
        return Err(ApiError::PreconditionFailed);
    }
    Cache::open().invalidate(&cache::key(entity.object_type, id));
    Ok(Reply::no_content())
}

/// 404 when there is no such record, 412 when it is not the version
/// `If-Match` named, 409 when its guard refuses the change.
fn check_current(
    version: &DbValue,
    expected: Option<i64>,
    guard: Option<&Guard>,
    allowed: &DbValue,
) -> Result<(), ApiError> {
    let Some(version) = db::int64(version) else {
        return Err(ApiError::NotFound);
    };
    if expected.is_some_and(|e| e != version) {
        return Err(ApiError::PreconditionFailed);
    }
    match guard {
        Some(guard) if !db::boolean(allowed) => Err(ApiError::Conflict(guard.conflict.to_owned())),
        _ => Ok(()),
    }
}

/// 422 naming each field path whose reference the statement refused.
fn check_references(entity: &Entity, refused: &DbValue) -> Result<(), ApiError> {
    let Some(refused) = db::json(refused) else {
        return Ok(());
    };
    let refused: Vec<(usize, String)> = serde_json::from_slice(&refused)
        .map_err(|_| ApiError::Internal("refused references that are not JSON".to_owned()))?;
    let references: Vec<_> = references(entity).collect();
    let errors = refused
        .into_iter()
        .map(|(i, path)| {
            let message = references
                .get(i)
                .map_or("names no record", |(_, r)| r.message);
            FieldError::new(path, message)
        })
        .collect();
    Err(ApiError::Validation(errors))
}

fn expected_version_param(expected: Option<i64>) -> ParameterValue {
    match expected {
        Some(version) => ParameterValue::Int64(version),
        None => ParameterValue::DbNull,
    }
}
