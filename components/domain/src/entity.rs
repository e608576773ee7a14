//! What the generic CRUD code needs to know about an entity: where it lives,
//! how it is rendered, how it can be filtered. SQL fragments here are
//! constants of ours, never user input.

use crate::schema::Field;
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
    /// Its name in the OpenAPI document (`Customer`, `CustomerInput`, …).
    pub schema_name: &'static str,
    /// The fields a client writes, parsed by [`crate::schema::parse`]
    /// (empty for an entity with a parser of its own, such as users).
    pub fields: &'static [Field],
    /// Whether it has `validFrom`/`validThru`.
    pub validity: bool,
    /// Fields only the server writes, beyond id, version and the audit
    /// stamps: a body may carry them back (as a GET gave them) and they are
    /// ignored.
    pub server_fields: &'static [ServerField],
    /// Fields of another record shown in this one's (a promotion's
    /// `customerName`): always read fresh, never kept in this record's row
    /// or cache entry.
    pub embeds: &'static [Embed],
    /// When an update or delete is allowed at all (409 otherwise).
    pub edit_guard: Option<&'static Guard>,
    /// Records of other entities that may refer to this one: a delete is
    /// refused (409) while any does.
    pub holders: &'static [Holder],
}

impl Entity {
    pub fn server_fields_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.server_fields.iter().map(|f| f.name)
    }
}

#[derive(Debug)]
pub struct ServerField {
    pub name: &'static str,
    /// JSON Schema of the field, for the OpenAPI document.
    pub schema: &'static str,
}

#[derive(Debug)]
pub struct Embed {
    /// The field in this record (`customerName`).
    pub name: &'static str,
    /// The field of this record holding the other's id (`customerId`).
    pub id_field: &'static str,
    pub entity: &'static Entity,
    /// The other record's field shown (`name`).
    pub source_field: &'static str,
    /// SQL giving the value for the row `t`, for lists.
    pub sql: &'static str,
}

#[derive(Debug)]
pub struct Guard {
    /// A condition on the row as it is (`current`).
    pub sql: &'static str,
    /// `detail` of the 409 when it does not hold.
    pub conflict: &'static str,
}

#[derive(Debug)]
pub struct Holder {
    /// SQL counting the records that refer to `$1`.
    pub count: &'static str,
    /// `detail` of the 409, `{}` standing for the count.
    pub conflict: &'static str,
}

#[derive(Debug)]
pub struct Filter {
    /// Query parameter name.
    pub param: &'static str,
    pub kind: FilterKind,
    /// For the OpenAPI document.
    pub description: &'static str,
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
    /// A UUID that may be NULL.
    OptionalUuid(Option<Uuid>),
    Int(i64),
}

impl SqlValue {
    pub fn cast(&self) -> &'static str {
        match self {
            SqlValue::Text(_) | SqlValue::OptionalText(_) => "text",
            SqlValue::Json(_) => "jsonb",
            SqlValue::Instant(_) => "text::timestamptz",
            SqlValue::Bool(_) => "boolean",
            SqlValue::Uuid(_) | SqlValue::OptionalUuid(_) => "uuid",
            SqlValue::Int(_) => "int8",
        }
    }

    /// `$n::cast`
    pub fn placeholder(&self, n: usize) -> String {
        format!("${n}::{}", self.cast())
    }
}
