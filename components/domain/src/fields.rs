//! Reading a JSON object field by field, collecting every problem at once, so
//! that a 422 names each bad field instead of only the first one.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// One entry of a problem+json `errors` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Fields the server owns. Clients may send them back (a GET body PUT back
/// unchanged must work) and they are ignored, unlike unknown fields.
pub const READ_ONLY: &[&str] = &[
    "id",
    "createdAt",
    "updatedAt",
    "createdBy",
    "updatedBy",
    "version",
];

/// A body being parsed: hands out fields by name and remembers what went wrong.
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    known: BTreeSet<&'static str>,
    errors: Vec<FieldError>,
    /// Where this object sits in the body (`products[2].`), for the
    /// errors' field paths; empty for the body itself.
    prefix: String,
}

impl<'a> Fields<'a> {
    /// `body` must be a JSON object; anything else is one error on the body.
    pub fn new(body: &'a Value) -> Result<Self, Vec<FieldError>> {
        match body {
            Value::Object(object) => Ok(Self {
                object,
                known: READ_ONLY.iter().copied().collect(),
                errors: Vec::new(),
                prefix: String::new(),
            }),
            _ => Err(vec![FieldError::new("", "the body must be a JSON object")]),
        }
    }

    /// An object inside the body, at `path` (`products[2]`): errors name
    /// its fields by their full path, and only its own fields are known.
    pub fn at(value: &'a Value, path: &str) -> Result<Self, Vec<FieldError>> {
        match value {
            Value::Object(object) => Ok(Self {
                object,
                known: BTreeSet::new(),
                errors: Vec::new(),
                prefix: format!("{path}."),
            }),
            _ => Err(vec![FieldError::new(path, "must be a JSON object")]),
        }
    }

    /// Errors found inside this object's own nested objects go here too.
    pub fn errors_mut(&mut self) -> &mut Vec<FieldError> {
        &mut self.errors
    }

    /// Fields the server derives from others: a body may carry them back
    /// (as it got them from a GET); they are ignored like [`READ_ONLY`].
    pub fn allow(&mut self, names: impl IntoIterator<Item = &'static str>) {
        self.known.extend(names);
    }

    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        let field = format!("{}{field}", self.prefix);
        self.errors.push(FieldError::new(field, message));
    }

    /// The raw value, `None` when absent or `null`.
    pub fn value(&mut self, name: &'static str) -> Option<&'a Value> {
        self.known.insert(name);
        self.object.get(name).filter(|v| !v.is_null())
    }

    /// A string field, trimmed; empty after trimming counts as missing.
    pub fn text(&mut self, name: &'static str) -> Option<String> {
        match self.value(name)? {
            // Postgres text cannot hold NUL; refuse it here, not with a 500 there.
            Value::String(s) if s.contains('\0') => {
                self.error(name, "must not contain NUL characters");
                None
            }
            Value::String(s) => {
                let trimmed = s.trim();
                (!trimmed.is_empty()).then(|| trimmed.to_owned())
            }
            _ => {
                self.error(name, "must be a string");
                None
            }
        }
    }

    /// A required string of at most `max` characters.
    pub fn required_text(&mut self, name: &'static str, max: usize) -> Option<String> {
        let text = self.optional_text(name, max);
        if text.is_none() && !self.has_error(name) {
            self.error(name, "is required");
        }
        text
    }

    /// An optional string of at most `max` characters.
    pub fn optional_text(&mut self, name: &'static str, max: usize) -> Option<String> {
        let text = self.text(name)?;
        if text.chars().count() > max {
            self.error(name, format!("must be at most {max} characters"));
            return None;
        }
        Some(text)
    }

    pub fn boolean(&mut self, name: &'static str) -> Option<bool> {
        match self.value(name)? {
            Value::Bool(b) => Some(*b),
            _ => {
                self.error(name, "must be true or false");
                None
            }
        }
    }

    pub fn has_error(&self, name: &str) -> bool {
        self.errors
            .iter()
            .any(|e| e.field.strip_prefix(self.prefix.as_str()) == Some(name))
    }

    /// An error on `name` or on anything inside it (`products[2].productId`).
    pub fn has_error_under(&self, name: &str) -> bool {
        self.errors.iter().any(|e| {
            e.field
                .strip_prefix(name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['[', '.']))
        })
    }

    /// Ends parsing: unknown fields are errors (a typo must not be silently
    /// dropped), and `value` is returned only if nothing went wrong.
    pub fn finish<T>(mut self, value: impl FnOnce() -> Option<T>) -> Result<T, Vec<FieldError>> {
        let unknown: Vec<String> = self
            .object
            .keys()
            .filter(|k| !self.known.contains(k.as_str()))
            .cloned()
            .collect();
        for name in unknown {
            self.error(&name, "is not a known field");
        }
        if self.errors.is_empty() {
            if let Some(value) = value() {
                return Ok(value);
            }
            // Every required field reports its own error; reaching here means a
            // parser forgot to. Say so rather than answer 200 with half a record.
            self.errors
                .push(FieldError::new("", "the body is incomplete"));
        }
        Err(self.errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn collects_every_problem_and_rejects_unknown_fields() {
        let body = json!({"name": 5, "code": "   ", "colour": "red", "id": "ignored"});
        let mut f = Fields::new(&body).unwrap();
        let name = f.required_text("name", 10);
        let code = f.required_text("code", 10);
        let errors = f.finish(|| Some((name?, code?))).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["name", "code", "colour"]);
        assert_eq!(errors[1].message, "is required");
    }

    #[test]
    fn trims_and_limits_by_characters_not_bytes() {
        let body = json!({"name": "  Ünïcødé  "});
        let mut f = Fields::new(&body).unwrap();
        assert_eq!(f.required_text("name", 7).as_deref(), Some("Ünïcødé"));
        let body = json!({"name": "abcdefgh"});
        let mut f = Fields::new(&body).unwrap();
        assert_eq!(f.required_text("name", 7), None);
        assert!(f.has_error("name"));
    }

    #[test]
    fn refuses_nul_characters() {
        let body = json!({"name": "a\u{0}b"});
        let mut f = Fields::new(&body).unwrap();
        assert_eq!(f.required_text("name", 10), None);
        assert_eq!(
            f.finish(|| Some(())).unwrap_err()[0].message,
            "must not contain NUL characters"
        );
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        assert!(Fields::new(&json!([1, 2])).is_err());
        assert!(Fields::new(&json!("x")).is_err());
    }
}
