//! The OpenAPI 3.1 document, generated. Each resource (customers, products,
//! promotions) is described from its `Entity`: the request body's schema
//! from the same field definitions that parse it (domain::schema), the list
//! filters from the ones that filter it, the responses from what kit::crud
//! answers. What is not a resource (auth, users, audit, health, the
//! workflow) is written once in `fragments.json`.

use domain::entity::{Entity, FilterKind};
use domain::schema::{input_schema, record_schema, CODE_PATTERN};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// The resources served by the generic path (kit::resource).
pub const RESOURCES: &[&Entity] = &[
    &domain::customer::CUSTOMER,
    &domain::product::PRODUCT,
    &domain::promotion::PROMOTION,
];

const FRAGMENTS: &str = include_str!("../fragments.json");

pub fn document_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../api/openapi.json")
}

/// The document as committed: pretty JSON and a final newline.
pub fn render() -> String {
    let mut text = serde_json::to_string_pretty(&document()).expect("a JSON document");
    text.push('\n');
    text
}

pub fn document() -> Value {
    let mut doc: Value = serde_json::from_str(FRAGMENTS).expect("fragments.json is JSON");
    for entity in RESOURCES {
        let plural = plural(entity);
        let paths = doc["paths"].as_object_mut().expect("paths");
        paths.insert(entity.path.to_owned(), collection(entity, plural));
        paths.insert(format!("{}/{{id}}", entity.path), item(entity, plural));
        let schemas = doc["components"]["schemas"]
            .as_object_mut()
            .expect("schemas");
        let name = entity.schema_name;
        schemas.insert(format!("{name}Input"), input_schema(entity));
        schemas.insert(name.to_owned(), record_schema(entity));
        schemas.insert(format!("{name}Page"), page(name));
    }
    doc
}

/// `customers` of `/api/customers`: the operation ids' prefix.
fn plural(entity: &Entity) -> &'static str {
    entity.path.rsplit('/').next().expect("a path")
}

fn noun(entity: &Entity) -> &'static str {
    entity.object_type
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn problem(description: &str) -> Value {
    json!({"description": description, "content": {"application/problem+json": {"schema": reference("Problem")}}})
}

fn record(description: &str, name: &str, headers: &[&str]) -> Value {
    let headers: Map<String, Value> = headers
        .iter()
        .map(|h| {
            (
                h.to_string(),
                json!({"$ref": format!("#/components/headers/{h}")}),
            )
        })
        .collect();
    json!({"description": description, "content": {"application/json": {"schema": reference(name)}}, "headers": headers})
}

const READ_401: &str = "Missing, malformed, expired or wrongly signed token";
const WRITE_401: &str =
    "Missing, malformed, expired or wrongly signed token, or its user has been \
                         deactivated, demoted or has changed password since it was issued";
const UNAVAILABLE: &str = "Postgres unreachable; retry after Retry-After seconds";

fn responses(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// 422 of a write: per field, and for references that name nothing usable.
fn validation(entity: &Entity) -> Value {
    let references = domain::schema::references(entity).count();
    if references == 0 {
        problem("Validation failed, one entry per field")
    } else {
        problem(
            "Validation failed, one entry per field (its path, such as products[2].productId): \
             also when a reference names no record, or one whose validity has ended",
        )
    }
}

fn collection(entity: &Entity, plural: &str) -> Value {
    let name = entity.schema_name;
    let mut parameters = vec![
        json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}}),
        json!({"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{21}[AQgw]$"}, "description": "nextCursor of the previous page"}),
        json!({"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 200, "pattern": r"^[^\u0000]*$"},
               "description": format!("Case-insensitive substring of the {}", entity.search_columns.join(" or the "))}),
    ];
    if entity.validity {
        parameters.push(json!({"name": "validOn", "in": "query",
            "schema": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]},
            "description": "RFC 3339 instant or YYYY-MM-DD: records valid then"}));
    }
    for filter in entity.filters {
        let schema = match filter.kind {
            FilterKind::Code => json!({"type": "string", "pattern": CODE_PATTERN}),
            FilterKind::Text => {
                json!({"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[^\u0000]*$"})
            }
            FilterKind::Uuid => json!({"type": "string", "format": "uuid"}),
            FilterKind::Bool => json!({"type": "boolean"}),
            FilterKind::OneOf(words) => json!({"enum": words}),
        };
        let mut parameter = json!({"name": filter.param, "in": "query", "schema": schema});
        if !filter.description.is_empty() {
            parameter["description"] = json!(filter.description);
        }
        parameters.push(parameter);
    }
    json!({
        "get": {
            "operationId": format!("{plural}-list"),
            "summary": format!("A page of {plural}"),
            "parameters": parameters,
            "responses": responses(vec![
                ("200", json!({"description": "A page, oldest first", "content": {"application/json": {"schema": reference(&format!("{name}Page"))}}})),
                ("400", problem("A query parameter is not valid")),
                ("401", problem(READ_401)),
                ("503", problem(UNAVAILABLE)),
            ]),
        },
        "post": {
            "operationId": format!("{plural}-create"),
            "summary": format!("Create a {}", noun(entity)),
            "requestBody": {"required": true, "content": {"application/json": {"schema": reference(&format!("{name}Input"))}}},
            "responses": responses(vec![
                ("201", record("Created", name, &["ETag", "Location"])),
                ("400", problem("Malformed JSON")),
                ("401", problem(WRITE_401)),
                ("409", problem(&capitalised(entity.unique_violation))),
                ("413", problem("Body over 64 KiB")),
                ("415", problem("Not application/json")),
                ("422", validation(entity)),
                ("503", problem(UNAVAILABLE)),
            ]),
        }
    })
}

fn item(entity: &Entity, plural: &str) -> Value {
    let name = entity.schema_name;
    let noun = noun(entity);
    let if_match = json!({"name": "If-Match", "in": "header", "required": false, "schema": {"type": "string"},
                          "description": "The ETag of the version being replaced; 412 if it is no longer current"});
    let guard = entity.edit_guard.map(|g| capitalised(g.conflict));
    let mut update_conflict = capitalised(entity.unique_violation);
    if let Some(guard) = &guard {
        update_conflict = format!("{update_conflict}; or: {guard}");
    }
    let mut delete_conflicts: Vec<String> = entity
        .holders
        .iter()
        .map(|h| capitalised(&h.conflict.replace("{}", "N")))
        .collect();
    delete_conflicts.extend(guard.clone());
    let mut delete = vec![
        ("204", json!({"description": "Deleted"})),
        ("401", problem(WRITE_401)),
        ("404", problem(&format!("No such {noun}"))),
        ("412", problem("If-Match does not match")),
        ("503", problem(UNAVAILABLE)),
    ];
    if !delete_conflicts.is_empty() {
        delete.push(("409", problem(&delete_conflicts.join("; or: "))));
    }
    json!({
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
        "get": {
            "operationId": format!("{plural}-get"),
            "summary": format!("One {noun}"),
            "responses": responses(vec![
                ("200", record(&format!("The {noun}"), name, &["ETag"])),
                ("401", problem(READ_401)),
                ("404", problem(&format!("No such {noun}"))),
                ("503", problem(UNAVAILABLE)),
            ]),
        },
        "put": {
            "operationId": format!("{plural}-update"),
            "summary": format!("Replace a {noun}'s writable fields"),
            "parameters": [if_match.clone()],
            "requestBody": {"required": true, "content": {"application/json": {"schema": reference(&format!("{name}Input"))}}},
            "responses": responses(vec![
                ("200", record("Updated", name, &["ETag"])),
                ("400", problem("Malformed JSON")),
                ("401", problem(WRITE_401)),
                ("404", problem(&format!("No such {noun}"))),
                ("409", problem(&update_conflict)),
                ("412", problem("If-Match does not match")),
                ("413", problem("Body over 64 KiB")),
                ("415", problem("Not application/json")),
                ("422", validation(entity)),
                ("503", problem(UNAVAILABLE)),
            ]),
        },
        "delete": {
            "operationId": format!("{plural}-delete"),
            "summary": format!("Delete a {noun}"),
            "parameters": [if_match],
            "responses": responses(delete),
        }
    })
}

fn page(name: &str) -> Value {
    json!({
        "type": "object",
        "required": ["items", "nextCursor"],
        "properties": {
            "items": {"type": "array", "items": reference(name)},
            "nextCursor": {"type": ["string", "null"]}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::routes::ROUTES;
    use std::collections::BTreeSet;

    /// The committed document is what the definitions generate.
    #[test]
    fn the_committed_document_is_generated() {
        let committed = std::fs::read_to_string(document_path()).unwrap();
        assert!(
            committed == render(),
            "components/openapi/api/openapi.json is out of date: run `cargo run -p openapi-gen`"
        );
    }

    /// Every documented operation is routed, and every routed one documented.
    #[test]
    fn the_document_describes_exactly_the_route_table() {
        let doc = document();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if method != "parameters" {
                    documented.insert((
                        method.to_uppercase(),
                        path.replace("{id}", ":id"),
                        op["operationId"].as_str().unwrap().to_owned(),
                    ));
                }
            }
        }
        let routed: BTreeSet<_> = ROUTES
            .iter()
            .flat_map(|r| {
                r.operations
                    .iter()
                    .map(|(m, c)| (m.to_string(), r.pattern.to_owned(), c.to_string()))
            })
            .collect();
        assert_eq!(documented, routed);
    }

    /// spin.toml gives each routed path to its first operation's component,
    /// has a private route for each other one, and a component for each.
    #[test]
    fn spin_toml_routes_what_the_route_table_says() {
        let manifest: toml::Table = toml::from_str(
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../spin.toml"))
                .unwrap(),
        )
        .unwrap();
        let mut public = BTreeSet::new();
        let mut private = BTreeSet::new();
        for trigger in manifest["trigger"]["http"].as_array().unwrap() {
            let component = trigger["component"].as_str().unwrap().to_owned();
            match &trigger["route"] {
                // The document's component is also the 404 of every other
                // /api path.
                toml::Value::String(route) if route == "/api/..." => {
                    public.insert(("/api/openapi.json".to_owned(), component));
                }
                toml::Value::String(route) if route != "/..." => {
                    public.insert((route.clone(), component));
                }
                toml::Value::Table(t)
                    if t.get("private").and_then(|p| p.as_bool()) == Some(true) =>
                {
                    private.insert(component);
                }
                _ => {}
            }
        }
        let want_public: BTreeSet<_> = ROUTES
            .iter()
            .map(|r| (r.pattern.to_owned(), r.operations[0].1.to_owned()))
            .collect();
        let want_private: BTreeSet<_> = ROUTES
            .iter()
            .flat_map(|r| r.operations[1..].iter().map(|(_, c)| c.to_string()))
            .collect();
        assert_eq!(public, want_public);
        assert_eq!(private, want_private);
        let components = manifest["component"].as_table().unwrap();
        for route in ROUTES {
            for (_, component) in route.operations {
                assert!(
                    components.contains_key(*component),
                    "spin.toml has no component {component}"
                );
            }
        }
    }

    /// What a resource's body may hold is what its parser accepts: every
    /// input property is a field the parser reads, and the other way round.
    #[test]
    fn input_schemas_name_exactly_the_fields_the_parsers_read() {
        use domain::validity::parse_instant;
        let now = parse_instant("2026-03-01T12:00:00Z").unwrap();
        for entity in RESOURCES {
            let schema = input_schema(entity);
            for name in schema["properties"].as_object().unwrap().keys() {
                let body = json!({ name.as_str(): null });
                let errors = domain::schema::parse(entity, &body, now).unwrap_err();
                assert!(
                    !errors
                        .iter()
                        .any(|e| e.field == *name && e.message == "is not a known field"),
                    "{}: {name} is documented but not read",
                    entity.object_type
                );
            }
            let errors =
                domain::schema::parse(entity, &json!({"surely-not-a-field": 1}), now).unwrap_err();
            assert!(errors.iter().any(|e| e.field == "surely-not-a-field"));
            let required: BTreeSet<&str> = schema["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let errors = domain::schema::parse(entity, &json!({}), now).unwrap_err();
            let missing: BTreeSet<&str> = errors
                .iter()
                .filter(|e| e.message == "is required")
                .map(|e| e.field.as_str())
                .collect();
            assert_eq!(required, missing, "{}", entity.object_type);
        }
    }
}
