//! The writable fields of an entity, declared once. The same declaration
//! parses a request body into column values (every bad field reported at
//! once), tells kit::crud which references a write must check, and writes
//! the body's JSON Schema into the OpenAPI document (openapi-gen): the
//! document cannot promise what the code does not check.

use crate::customer::{code_field, extra_fields_field};
use crate::entity::{Entity, SqlValue};
use crate::fields::{FieldError, Fields};
use crate::validity::Validity;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

/// One field of a request body, and the column it is written to.
#[derive(Debug)]
pub struct Field {
    /// The JSON name.
    pub name: &'static str,
    pub column: &'static str,
    pub kind: Kind,
    /// Absent, `null` or blank is a 422 (otherwise the kind's default).
    pub required: bool,
    /// For the OpenAPI document.
    pub description: &'static str,
}

#[derive(Debug)]
pub enum Kind {
    /// A business code: letters, digits, `_` and `-`, 1 to 50 of them.
    Code,
    /// Trimmed text of 1 to `max` characters; an optional one may be absent
    /// (NULL).
    Text { max: usize },
    /// `true` or `false`; absent means `default`.
    Bool { default: bool },
    /// A JSON object of at most 16 KiB; absent means `{}`.
    ExtraFields,
    /// The id of another entity's record.
    Reference(&'static Reference),
    /// A shape of the entity's own, parsed and described by its module.
    Custom(&'static Custom),
}

/// A field naming records of another entity. A write may only newly refer
/// to records that exist and whose validity has not ended (422 with the
/// field's path); what a record already refers to stays, expired or not.
/// The database's foreign keys are what keeps a reference from dangling.
#[derive(Debug)]
pub struct Reference {
    /// The referenced table.
    pub table: &'static str,
    /// `message` of the 422.
    pub message: &'static str,
    /// SQL giving the referenced ids as rows `(path text, ref uuid)`, `{}`
    /// standing for the field's placeholder.
    pub given: &'static str,
    /// SQL giving the ids the record being updated refers to now (`$1` is
    /// its id).
    pub held: &'static str,
}

/// A field with a shape of its own (a promotion's product lines).
#[derive(Debug)]
pub struct Custom {
    /// Parses the (present, non-null) value; errors name their full path.
    pub parse: fn(&Value, &mut Vec<FieldError>) -> Option<Value>,
    /// JSON Schema of the value in a request body.
    pub input_schema: fn() -> Value,
    /// JSON Schema of the value as the API returns it.
    pub output_schema: fn() -> Value,
    /// What the value must hold when absent.
    pub default: fn() -> Value,
    pub references: Option<&'static Reference>,
}

/// The column values a body sets, in the order of the entity's fields,
/// then validity.
pub type Columns = Vec<(&'static str, SqlValue)>;

/// Parses a create or replace body of `entity`.
pub fn parse(
    entity: &Entity,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<Columns, Vec<FieldError>> {
    let mut f = Fields::new(body)?;
    f.allow(entity.server_fields_names());
    let values: Vec<Option<SqlValue>> = entity
        .fields
        .iter()
        .map(|field| parse_field(&mut f, field))
        .collect();
    let validity = entity.validity.then(|| Validity::parse(&mut f, now));
    f.finish(|| {
        let mut columns = Columns::new();
        for (field, value) in entity.fields.iter().zip(values) {
            columns.push((field.column, value?));
        }
        if let Some(validity) = validity {
            let validity = validity?;
            columns.push(("valid_from", SqlValue::Instant(validity.from)));
            columns.push(("valid_thru", SqlValue::Instant(validity.thru)));
        }
        Some(columns)
    })
}

fn parse_field(f: &mut Fields<'_>, field: &Field) -> Option<SqlValue> {
    let name = field.name;
    let value = match &field.kind {
        Kind::Code => code_field(f, name).map(SqlValue::Text),
        Kind::Text { max } if field.required => f.required_text(name, *max).map(SqlValue::Text),
        Kind::Text { max } => {
            let text = f.optional_text(name, *max);
            (!f.has_error(name)).then_some(SqlValue::OptionalText(text))
        }
        Kind::Bool { default } => {
            let given = f.boolean(name);
            (!f.has_error(name)).then(|| SqlValue::Bool(given.unwrap_or(*default)))
        }
        Kind::ExtraFields => extra_fields_field(f).map(|map| SqlValue::Json(Value::Object(map))),
        Kind::Reference(_) => match f.value(name) {
            Some(Value::String(s)) => match Uuid::try_parse(s.trim()) {
                Ok(id) => Some(SqlValue::Uuid(id)),
                Err(_) => {
                    f.error(name, "must be a UUID");
                    None
                }
            },
            Some(_) => {
                f.error(name, "must be a UUID");
                None
            }
            None => None,
        },
        Kind::Custom(custom) => match f.value(name) {
            Some(value) => {
                let mut errors = Vec::new();
                let parsed = (custom.parse)(value, &mut errors);
                for e in errors {
                    f.error(&e.field, e.message);
                }
                parsed.map(SqlValue::Json)
            }
            None if field.required => None,
            None => Some(SqlValue::Json((custom.default)())),
        },
    };
    if value.is_none() && field.required && !f.has_error_under(name) {
        f.error(name, "is required");
    }
    value
}

/// The references a write's columns make: (reference, placeholder's column).
pub fn references(
    entity: &Entity,
) -> impl Iterator<Item = (&'static str, &'static Reference)> + '_ {
    entity.fields.iter().filter_map(|field| match &field.kind {
        Kind::Reference(r) => Some((field.column, *r)),
        Kind::Custom(Custom {
            references: Some(r),
            ..
        }) => Some((field.column, *r)),
        _ => None,
    })
}

// --- The OpenAPI description of the same fields. ---

/// Text that is not blank and holds no NUL, as [`Fields::text`] accepts it.
pub const NOT_BLANK: &str = r"^[^\u0000]*[^\u0000\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$";
pub const CODE_PATTERN: &str = "^[A-Za-z0-9_-]{1,50}$";

fn instant() -> Value {
    json!({"$ref": "#/components/schemas/Instant"})
}

fn nullable(schema: Value) -> Value {
    json!({"anyOf": [schema, {"type": "null"}]})
}

/// JSON Schema of a create or replace body.
pub fn input_schema(entity: &Entity) -> Value {
    let mut properties = serde_json::Map::new();
    let mut required = Vec::new();
    for field in entity.fields {
        let mut schema = match &field.kind {
            Kind::Code => json!({"type": "string", "pattern": CODE_PATTERN}),
            Kind::Text { max } if field.required => {
                json!({"type": "string", "maxLength": max, "pattern": NOT_BLANK})
            }
            Kind::Text { max } => {
                json!({"type": ["string", "null"], "maxLength": max, "pattern": r"^[^\u0000]*$"})
            }
            Kind::Bool { default } => json!({"type": ["boolean", "null"], "default": default}),
            Kind::ExtraFields => json!({
                "type": ["object", "null"],
                "propertyNames": {"pattern": r"^[^\u0000]*$"},
                "additionalProperties": {"$ref": "#/components/schemas/JsonWithoutNul"}
            }),
            Kind::Reference(_) => json!({"type": "string", "format": "uuid"}),
            Kind::Custom(custom) if field.required => (custom.input_schema)(),
            Kind::Custom(custom) => nullable((custom.input_schema)()),
        };
        if !field.description.is_empty() {
            schema["description"] = json!(field.description);
        }
        if field.required {
            required.push(field.name);
        }
        properties.insert(field.name.to_owned(), schema);
    }
    if entity.validity {
        properties.insert(
            "validFrom".into(),
            with_description(nullable(instant()), "Default: now. Without validThru it must leave room for the default validThru, a year later, before year 10000."),
        );
        properties.insert(
            "validThru".into(),
            with_description(nullable(instant()), "Default: a year after validFrom"),
        );
    }
    for name in crate::fields::READ_ONLY
        .iter()
        .copied()
        .chain(entity.server_fields_names())
    {
        properties.insert(
            name.to_owned(),
            json!({"description": "Ignored: the server owns it"}),
        );
    }
    json!({"type": "object", "additionalProperties": false, "required": required, "properties": properties})
}

fn with_description(mut schema: Value, description: &str) -> Value {
    schema["description"] = json!(description);
    schema
}

/// JSON Schema of a record as the API returns it.
pub fn record_schema(entity: &Entity) -> Value {
    let mut properties = serde_json::Map::new();
    let uuid = json!({"type": "string", "format": "uuid"});
    properties.insert("id".into(), uuid.clone());
    for field in entity.fields {
        let schema = match &field.kind {
            Kind::Code => json!({"type": "string"}),
            Kind::Text { .. } if field.required => json!({"type": "string"}),
            Kind::Text { .. } => json!({"type": ["string", "null"]}),
            Kind::Bool { .. } => json!({"type": "boolean"}),
            Kind::ExtraFields => json!({"type": "object"}),
            Kind::Reference(_) => uuid.clone(),
            Kind::Custom(custom) => (custom.output_schema)(),
        };
        properties.insert(field.name.to_owned(), schema);
    }
    for server in entity.server_fields {
        let schema: Value =
            serde_json::from_str(server.schema).expect("a server field's schema is JSON");
        properties.insert(server.name.to_owned(), schema);
    }
    if entity.validity {
        properties.insert("validFrom".into(), instant());
        properties.insert("validThru".into(), instant());
    }
    for name in ["createdAt", "updatedAt"] {
        properties.insert(name.into(), instant());
    }
    properties.insert("createdBy".into(), uuid.clone());
    properties.insert("updatedBy".into(), uuid);
    properties.insert("version".into(), json!({"type": "integer", "minimum": 1}));
    let required: Vec<&String> = properties.keys().collect();
    json!({"type": "object", "required": required, "properties": properties})
}
