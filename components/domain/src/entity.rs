//! What the generic CRUD code needs to know about an entity: where it lives,
//! how it is rendered, how it can be filtered. SQL fragments here are
//! constants of ours, never user input.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug)]
pub struct Entity {
    /// Table, aliased `t` in every query.
    pub table: &'static str,
    /// The collection's path (`Location` of a created record is
    /// `<path>/<id>`).
    pub path: &'static str,
    /// `objectType` of its audit events, and the cache key prefix.
    pub object_type: &'static str,
    /// Text column holding the row's API JSON, rendered by Postgres when the
    /// row is written (a generated column, see the migrations): reads send
    /// it as it is, and the audit trail's `before`/`after` are made from it.
    pub json_column: &'static str,
    /// Columns `q` searches (any of them may contain it).
    pub search_columns: &'static [&'static str],
    /// Entity-specific list filters, beyond `q`, `validOn`, `limit`, `cursor`.
    pub filters: &'static [Filter],
    /// `detail` of the 409 when a unique constraint refuses a write.
    pub unique_violation: &'static str,
}

#[derive(Debug)]
pub struct Filter {
    /// Query parameter name.
    pub param: &'static str,
    pub kind: FilterKind,
    /// Condition with `{}` standing for the parameter placeholder.
    pub sql: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub enum FilterKind {
    /// A business code (`[A-Za-z0-9_-]{1,50}`).
    Code,
    Text,
    Uuid,
    Bool,
    /// One of the listed words.
    OneOf(&'static [&'static str]),
}

/// A value bound to a statement, with the SQL type Postgres must see. Spin's
/// host binds text as text and refuses to coerce, so every placeholder carries
/// an explicit cast (`$3::text::timestamptz`).
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(String),
    /// Text that may be NULL.
    OptionalText(Option<String>),
    Json(Value),
    Instant(DateTime<Utc>),
    Bool(bool),
    Uuid(Uuid),
    Int(i64),
}

impl SqlValue {
    pub fn cast(&self) -> &'static str {
        match self {
            SqlValue::Text(_) | SqlValue::OptionalText(_) => "text",
            SqlValue::Json(_) => "jsonb",
            SqlValue::Instant(_) => "text::timestamptz",
            SqlValue::Bool(_) => "boolean",
            SqlValue::Uuid(_) => "uuid",
            SqlValue::Int(_) => "int8",
        }
    }

    /// `$n::cast`
    pub fn placeholder(&self, n: usize) -> String {
        format!("${n}::{}", self.cast())
    }
}
