//! Postgres through `spin:postgres@4.0.0`, and what its errors mean to a
//! client.

use crate::config;
use crate::error::ApiError;
use domain::entity::SqlValue;
use domain::validity::to_sql_text;
use spin_sdk::pg4::{Connection, DbValue, ParameterValue, PgError, QueryError, RowSet};

pub fn connect() -> Result<Connection, ApiError> {
    let url = config::required("db_url")?;
    Connection::open(&url).map_err(|e| classify(e, "a record with these values already exists"))
}

pub fn param(value: &SqlValue) -> ParameterValue {
    match value {
        SqlValue::Text(s) => ParameterValue::Str(s.clone()),
        SqlValue::Json(v) => ParameterValue::Jsonb(serde_json::to_vec(v).unwrap_or_default()),
        SqlValue::Instant(t) => ParameterValue::Str(to_sql_text(*t)),
        SqlValue::Bool(b) => ParameterValue::Boolean(*b),
        SqlValue::Uuid(u) => ParameterValue::Uuid(u.to_string()),
        SqlValue::Int(i) => ParameterValue::Int64(*i),
    }
}

/// Runs one statement. `conflict` is the 409 detail should a unique
/// constraint refuse it.
pub fn query(
    db: &Connection,
    sql: &str,
    params: &[ParameterValue],
    conflict: &str,
) -> Result<RowSet, ApiError> {
    db.query(sql, params).map_err(|e| classify(e, conflict))
}

/// SQLSTATE → HTTP. Spin reports most errors structured, but a violation
/// raised while rows stream back arrives as text (see spin-verified.md), so
/// both shapes are read.
fn classify(error: PgError, conflict: &str) -> ApiError {
    let code = match &error {
        PgError::ConnectionFailed(_) => return ApiError::Unavailable("the database"),
        PgError::QueryFailed(QueryError::DbError(db)) => Some(db.code.clone()),
        PgError::QueryFailed(QueryError::Text(text)) => sqlstate_in_text(text),
        _ => None,
    };
    match code.as_deref() {
        Some("23505") => ApiError::Conflict(conflict.to_owned()),
        Some("23503") => ApiError::Conflict(
            "the record refers to, or is referred to by, another record".to_owned(),
        ),
        // Serialization failure, deadlock, shutdown, too many connections:
        // transient, worth a retry.
        Some("40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03") => {
            ApiError::Unavailable("the database")
        }
        Some(c) if c.starts_with("08") => ApiError::Unavailable("the database"),
        _ => ApiError::Internal(format!("postgres: {error:?}")),
    }
}

/// Finds `SqlState(E23505)` or `code: "23505"` in a stringified error.
fn sqlstate_in_text(text: &str) -> Option<String> {
    let at = text.find("SqlState(E").map(|i| i + "SqlState(E".len())?;
    let code: String = text[at..].chars().take(5).collect();
    (code.len() == 5 && code.chars().all(|c| c.is_ascii_alphanumeric())).then_some(code)
}

/// The jsonb in `column` of `row`, as raw JSON bytes.
pub fn jsonb(value: &DbValue) -> Option<Vec<u8>> {
    match value {
        DbValue::Jsonb(bytes) => Some(bytes.clone()),
        _ => None,
    }
}

pub fn int64(value: &DbValue) -> Option<i64> {
    match value {
        DbValue::Int64(i) => Some(*i),
        DbValue::Int32(i) => Some(i64::from(*i)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::sqlstate_in_text;

    #[test]
    fn reads_the_sqlstate_spin_puts_in_text_errors() {
        let text = "db error: DbError { severity: \"ERROR\", code: SqlState(E23505), message: \"duplicate key\" }";
        assert_eq!(sqlstate_in_text(text).as_deref(), Some("23505"));
        assert_eq!(sqlstate_in_text("connection reset"), None);
    }
}

/// For the health check: can Postgres run a statement?
pub fn ping() -> Result<(), ApiError> {
    let db = connect()?;
    query(&db, "SELECT 1", &[], "")?;
    Ok(())
}
