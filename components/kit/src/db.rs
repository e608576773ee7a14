//! Postgres through `spin:postgres@4.0.0`, and what its errors mean to a
//! client.

use crate::config;
use crate::error::ApiError;
use domain::entity::SqlValue;
use domain::validity::to_sql_text;
use spin_sdk::pg4::{Connection, DbValue, ParameterValue, PgError, QueryError};

/// The app database (`db_url`).
pub fn connect() -> Result<Connection, ApiError> {
    connect_to("db_url")
}

/// The database named by the Spin variable `variable`.
pub fn connect_to(variable: &str) -> Result<Connection, ApiError> {
    let url = config::required(variable)?;
    Connection::open(&url).map_err(|e| classify(e, "", false))
}

/// `{"items": [...], "nextCursor": ...}` around a JSON array that Postgres
/// already built: spliced, not re-encoded.
pub fn page_body(items: Vec<u8>, next_cursor: Option<String>) -> Vec<u8> {
    let mut body = b"{\"items\":".to_vec();
    body.extend(items);
    body.extend(b",\"nextCursor\":");
    body.extend(serde_json::to_vec(&next_cursor).unwrap_or_default());
    body.push(b'}');
    body
}

/// What a page's `item` column holds.
pub enum Items {
    /// jsonb values, gathered by `jsonb_agg`.
    Jsonb,
    /// JSON as text (a record's stored `api_json`), joined as it is: no
    /// jsonb tree is built in Postgres, and none in Spin's host.
    Text,
}

/// One page of a list as one row (see [`one_row`]): the JSON array of the
/// first `limit` items, whether more follow, then the `keys` of the last item
/// on the page (the next page's cursor). `select` names the columns `item`
/// (of the kind `items`) and each key; `from` is the FROM and WHERE; `limit`
/// a placeholder.
pub fn page_query(
    select: &str,
    from: &str,
    order_by: &str,
    limit: &str,
    keys: &[&str],
    items: Items,
) -> String {
    let on_page = format!("FILTER (WHERE page.n <= {limit})");
    let array = match items {
        Items::Jsonb => {
            format!("coalesce(jsonb_agg(page.item ORDER BY page.n) {on_page}, '[]'::jsonb)")
        }
        Items::Text => format!(
            "'[' || coalesce(string_agg(page.item, ',' ORDER BY page.n) {on_page}, '') || ']'"
        ),
    };
    let last: Vec<String> = keys
        .iter()
        .map(|key| format!(", max(page.{key}) FILTER (WHERE page.n = {limit})"))
        .collect();
    format!(
        "SELECT {array}, count(*) > {limit}{last} \
         FROM (SELECT {select}, row_number() OVER (ORDER BY {order_by}) AS n \
               {from} ORDER BY {order_by} LIMIT {limit} + 1) page",
        last = last.concat()
    )
}

/// The `WHERE` of a list from its conditions.
pub fn where_all(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    }
}

/// Parameters of a statement being assembled: `bind` returns the
/// placeholder (`$n::type`) to splice into the SQL.
#[derive(Default)]
pub struct Binds(Vec<SqlValue>);

impl Binds {
    pub fn bind(&mut self, value: SqlValue) -> String {
        let placeholder = value.placeholder(self.0.len() + 1);
        self.0.push(value);
        placeholder
    }

    pub fn params(&self) -> Vec<ParameterValue> {
        self.0.iter().map(param).collect()
    }

    /// The values bound so far, in placeholder order.
    pub fn values(&self) -> &[SqlValue] {
        &self.0
    }
}

pub fn param(value: &SqlValue) -> ParameterValue {
    match value {
        SqlValue::Text(s) => ParameterValue::Str(s.clone()),
        SqlValue::OptionalText(Some(s)) => ParameterValue::Str(s.clone()),
        SqlValue::OptionalText(None) => ParameterValue::DbNull,
        SqlValue::Json(v) => ParameterValue::Jsonb(serde_json::to_vec(v).unwrap_or_default()),
        SqlValue::Instant(t) => ParameterValue::Str(to_sql_text(*t)),
        SqlValue::Bool(b) => ParameterValue::Boolean(*b),
        SqlValue::Uuid(u) | SqlValue::OptionalUuid(Some(u)) => ParameterValue::Uuid(u.to_string()),
        SqlValue::OptionalUuid(None) => ParameterValue::DbNull,
        SqlValue::Int(i) => ParameterValue::Int64(*i),
    }
}

/// Runs one statement that returns exactly one row, and gives that row.
/// `conflict` is the 409 detail should a unique constraint refuse it.
///
/// Every statement sent through `query` is shaped to return one row whatever
/// matches, because Spin 4.0.0–4.0.2 never answer a `query` whose result has
/// no rows: the host call deadlocks and the request hangs
/// (spinframework/spin#3671). So a list page is one row holding the JSON
/// array (`coalesce(jsonb_agg(...), '[]')`), a lookup is a scalar subquery
/// (`SELECT (SELECT ... WHERE id = $1)`, NULL when absent), and a conditional
/// write is a CTE whose final `SELECT` of scalar subqueries says what
/// happened. Statements whose rows nobody reads go through `execute`.
pub fn one_row(
    db: &Connection,
    sql: &str,
    params: &[ParameterValue],
    conflict: &str,
) -> Result<Vec<DbValue>, ApiError> {
    let mut rows = db
        .query(sql, params)
        .map_err(|e| classify(e, conflict, modifies(sql)))?
        .rows;
    match rows.len() {
        1 => Ok(rows.remove(0)),
        n => Err(ApiError::Internal(format!(
            "a one-row statement returned {n} rows: {sql}"
        ))),
    }
}

/// Whether `sql` changes data (every write here is written with these
/// words): its outcome is unknown when the connection dies under it.
fn modifies(sql: &str) -> bool {
    ["INSERT INTO", "UPDATE ", "DELETE FROM"]
        .iter()
        .any(|verb| sql.contains(verb))
}

/// SQLSTATE → HTTP. Spin reports most errors structured, but a violation
/// raised while rows stream back arrives as text (see spin-verified.md), so
/// both shapes are read. `writes`: the statement changes data.
fn classify(error: PgError, conflict: &str, writes: bool) -> ApiError {
    let code = match &error {
        PgError::ConnectionFailed(why) => {
            crate::log_line!("postgres connection failed: {why}");
            return ApiError::Unavailable("the database");
        }
        PgError::QueryFailed(QueryError::Text(text)) if connection_lost(text) => {
            crate::log_line!("postgres connection lost during a statement: {text}");
            return if writes {
                ApiError::OutcomeUnknown
            } else {
                ApiError::Unavailable("the database")
            };
        }
        PgError::QueryFailed(QueryError::DbError(db)) => Some(db.code.clone()),
        PgError::QueryFailed(QueryError::Text(text)) => sqlstate_in_text(text),
        _ => None,
    };
    match code.as_deref() {
        Some("23505") => ApiError::Conflict(conflict.to_owned()),
        // Raised by the migrations' triggers (class SP: spintemp's rules).
        Some("SP001") => ApiError::Conflict(
            "an active user cannot be deleted: deactivate the user first".to_owned(),
        ),
        Some("SP002") => ApiError::Conflict(
            "this is the last active administrator: make another user an active \
             administrator first"
                .to_owned(),
        ),
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

/// A statement whose connection closed or failed under it (a backend
/// terminated, a database restarted): tokio-postgres's `Closed` and `Io`
/// kinds, as Spin 4.0.2 words them (their Debug form,
/// `Error { kind: Closed, cause: None }`) and Spin 3.6.3 (their Display
/// form).
fn connection_lost(text: &str) -> bool {
    [
        "kind: Closed",
        "kind: Io",
        "connection closed",
        "error communicating with the server",
    ]
    .iter()
    .any(|words| text.contains(words))
}

/// The SQLSTATE in a stringified error. Spin 4.0.2 words an error raised
/// while rows stream as the Debug form of its structured error, whose
/// `as-text` holds tokio-postgres's own Debug form again, quotes escaped:
/// `…DbError { as-text: "Error { … code: SqlState(Other(\"SP001\")) … }",
/// severity: "ERROR", code: "SP001", … }` (seen under Spin 4.0.2 for an
/// error a trigger raised). Postgres's own codes also appear as
/// `SqlState(E23505)`. Any of these forms is read.
fn sqlstate_in_text(text: &str) -> Option<String> {
    const MARKERS: [&str; 5] = [
        "code: \"",
        "SqlState(E",
        "SqlState(Other(\"",
        "SqlState(Other(\\\"",
        "code: \\\"",
    ];
    let five_after = |marker: &str| {
        let at = text.find(marker)? + marker.len();
        let code: String = text[at..].chars().take(5).collect();
        (code.len() == 5 && code.chars().all(|c| c.is_ascii_alphanumeric())).then_some(code)
    };
    // Spin 3.6.3 gives only "db error: ERROR: <message>"; the migrations'
    // own refusals start their message with their code for that reason, and
    // Postgres's own are known by their (English) messages.
    MARKERS
        .iter()
        .find_map(|marker| five_after(marker))
        .or_else(|| five_after("ERROR: ").filter(|code| code.starts_with("SP")))
        .or_else(|| sqlstate_of_message(text))
}

/// The SQLSTATE of a message Postgres words this way, for the errors the
/// API answers with something other than 500: a taken key (409), a
/// reference that vanished or is still held (409, when a create and a
/// delete race), and the transient ones (503). Only Postgres's default
/// English messages (`lc_messages`) are known; any other wording is a 500,
/// as an unknown error is.
fn sqlstate_of_message(text: &str) -> Option<String> {
    const MESSAGES: [(&str, &str); 7] = [
        ("duplicate key value violates unique constraint", "23505"),
        ("violates foreign key constraint", "23503"),
        ("could not serialize access", "40001"),
        ("deadlock detected", "40P01"),
        ("sorry, too many clients already", "53300"),
        (
            "terminating connection due to administrator command",
            "57P01",
        ),
        ("the database system is shutting down", "57P03"),
    ];
    let message = &text[text.find("ERROR: ")? + "ERROR: ".len()..];
    MESSAGES
        .iter()
        .find(|(words, _)| message.contains(words))
        .map(|(_, code)| (*code).to_owned())
}

/// JSON as bytes, from a jsonb value or from text holding JSON (a record's
/// `api_json`); NULL and anything else are `None`.
pub fn json(value: &DbValue) -> Option<Vec<u8>> {
    match value {
        DbValue::Jsonb(bytes) => Some(bytes.clone()),
        DbValue::Str(text) => Some(text.clone().into_bytes()),
        _ => None,
    }
}

pub fn text(value: &DbValue) -> Option<&str> {
    match value {
        DbValue::Str(s) => Some(s),
        _ => None,
    }
}

pub fn boolean(value: &DbValue) -> bool {
    matches!(value, DbValue::Boolean(true))
}

pub fn int64(value: &DbValue) -> Option<i64> {
    match value {
        DbValue::Int64(i) => Some(*i),
        DbValue::Int32(i) => Some(i64::from(*i)),
        _ => None,
    }
}

/// For the health check: can Postgres run a statement?
pub fn ping() -> Result<(), ApiError> {
    let db = connect()?;
    one_row(&db, "SELECT 1", &[], "")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{classify, sqlstate_in_text};
    use crate::error::ApiError;
    use spin_sdk::pg4::{PgError, QueryError};

    #[test]
    fn a_connection_lost_under_a_statement_is_a_503_and_a_write_says_its_outcome_is_unknown() {
        for text in [
            "Error { kind: Closed, cause: None }",
            "connection closed",
            "Error { kind: Io, cause: Some(Os { code: 104, kind: ConnectionReset }) }",
            "error communicating with the server: Connection reset by peer (os error 104)",
        ] {
            let lost = || PgError::QueryFailed(QueryError::Text(text.to_owned()));
            assert!(
                matches!(classify(lost(), "", false), ApiError::Unavailable(_)),
                "{text}"
            );
            assert!(
                matches!(classify(lost(), "", true), ApiError::OutcomeUnknown),
                "{text}"
            );
        }
    }

    #[test]
    fn reads_the_sqlstate_spin_puts_in_text_errors() {
        let text = "db error: DbError { severity: \"ERROR\", code: SqlState(E23505), message: \"duplicate key\" }";
        assert_eq!(sqlstate_in_text(text).as_deref(), Some("23505"));
        assert_eq!(sqlstate_in_text("connection reset"), None);
        let ours = "db error: DbError { severity: \"ERROR\", code: SqlState(Other(\"SP002\")) }";
        assert_eq!(sqlstate_in_text(ours).as_deref(), Some("SP002"));
        // As Spin 4.0.2 words an error a trigger raised while rows stream.
        let spin = r#"Error::QueryFailed(QueryError::DbError(DbError { as-text: "Error { kind: Db, cause: Some(DbError { severity: \"ERROR\", code: SqlState(Other(\"SP001\")), message: \"an active user cannot be deleted\" }) }", severity: "ERROR", code: "SP001", message: "an active user cannot be deleted", detail: None, extras: [] }))"#;
        assert_eq!(sqlstate_in_text(spin).as_deref(), Some("SP001"));
        assert_eq!(sqlstate_in_text("code: \"SP\" short").as_deref(), None);
        // As Spin 3.6.3 words it: the message alone, which starts with our code.
        let old_spin = "db error: ERROR: SP001: an active user cannot be deleted\n\nCaused by:\n    ERROR: SP001: an active user cannot be deleted";
        assert_eq!(sqlstate_in_text(old_spin).as_deref(), Some("SP001"));
        assert_eq!(
            sqlstate_in_text("db error: ERROR: duplicate key value").as_deref(),
            None
        );
        // Postgres's own errors under Spin 3.6.3: known by their messages.
        let taken = "db error: ERROR: duplicate key value violates unique constraint \"customers_code_key\"";
        assert_eq!(sqlstate_in_text(taken).as_deref(), Some("23505"));
        let held = "db error: ERROR: update or delete on table \"products\" violates foreign key \
                    constraint \"promotion_products_product_id_fkey\" on table \"promotion_products\"";
        assert_eq!(sqlstate_in_text(held).as_deref(), Some("23503"));
        assert_eq!(
            sqlstate_in_text("db error: ERROR: relation \"x\" does not exist").as_deref(),
            None
        );
        // A message is read only after "ERROR: ", not from anywhere.
        assert_eq!(sqlstate_in_text("deadlock detected").as_deref(), None);
    }
}
