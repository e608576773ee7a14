//! Customer: who buys. `code` is the business key (unique, case-insensitive).

use crate::entity::{Entity, Filter, FilterKind, SqlValue};
use crate::fields::{FieldError, Fields};
use crate::text::is_code;
use crate::validity::Validity;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// `extraFields` is free-form, but bounded so a record stays cacheable.
pub const MAX_EXTRA_FIELDS_BYTES: usize = 16 * 1024;

pub const CUSTOMER: Entity = Entity {
    table: "customers",
    path: "/api/customers",
    object_type: "customer",
    json_column: "api_json",
    search_columns: &["name"],
    filters: &[Filter {
        param: "code",
        kind: FilterKind::Code,
        sql: "lower(t.code) = lower({})",
    }],
    unique_violation: "a customer with this code already exists",
};

/// Everything a client may write on a customer, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerDraft {
    pub code: String,
    pub name: String,
    pub extra_fields: Map<String, Value>,
    pub validity: Validity,
}

impl CustomerDraft {
    pub fn parse(body: &Value, now: DateTime<Utc>) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(body)?;
        let code = code_field(&mut f);
        let name = f.required_text("name", 200);
        let extra_fields = extra_fields_field(&mut f);
        let validity = Validity::parse(&mut f, now);
        f.finish(|| {
            Some(CustomerDraft {
                code: code?,
                name: name?,
                extra_fields: extra_fields?,
                validity: validity?,
            })
        })
    }

    /// Column values in the order of `Entity::columns`.
    pub fn columns(&self) -> Vec<(&'static str, SqlValue)> {
        vec![
            ("code", SqlValue::Text(self.code.clone())),
            ("name", SqlValue::Text(self.name.clone())),
            (
                "extra_fields",
                SqlValue::Json(Value::Object(self.extra_fields.clone())),
            ),
            ("valid_from", SqlValue::Instant(self.validity.from)),
            ("valid_thru", SqlValue::Instant(self.validity.thru)),
        ]
    }
}

/// `code`: shared by customers and products.
pub fn code_field(f: &mut Fields<'_>) -> Option<String> {
    let code = f.required_text("code", 50)?;
    if !is_code(&code) {
        f.error("code", "may contain only letters, digits, '_' and '-'");
        return None;
    }
    Some(code)
}

/// `extraFields`: a JSON object of at most 16 KiB; missing means `{}`.
pub fn extra_fields_field(f: &mut Fields<'_>) -> Option<Map<String, Value>> {
    match f.value("extraFields") {
        None => Some(Map::new()),
        Some(Value::Object(map)) if crate::text::json_has_nul(&Value::Object(map.clone())) => {
            f.error("extraFields", "must not contain NUL characters");
            None
        }
        Some(Value::Object(map))
            if crate::text::json_has_huge_number(&Value::Object(map.clone())) =>
        {
            f.error(
                "extraFields",
                "numbers must be smaller than 1e308 in magnitude",
            );
            None
        }
        Some(Value::Object(map)) => {
            let size = serde_json::to_vec(map)
                .map(|v| v.len())
                .unwrap_or(usize::MAX);
            if size > MAX_EXTRA_FIELDS_BYTES {
                f.error("extraFields", "must be at most 16 KiB of JSON");
                return None;
            }
            Some(map.clone())
        }
        Some(_) => {
            f.error("extraFields", "must be a JSON object");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validity::parse_instant;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        parse_instant("2026-03-01T12:00:00Z").unwrap()
    }

    #[test]
    fn parses_a_complete_customer() {
        let c = CustomerDraft::parse(
            &json!({"code": " ducksrus ", "name": "Ducks R Us", "extraFields": {"tier": "gold"},
                    "validFrom": "2026-01-01T00:00:00Z", "validThru": "2027-01-01T00:00:00Z",
                    "id": "client ids are ignored", "version": 7}),
            now(),
        )
        .unwrap();
        assert_eq!(c.code, "ducksrus");
        assert_eq!(c.extra_fields["tier"], "gold");
    }

    #[test]
    fn reports_each_bad_field() {
        let errors = CustomerDraft::parse(
            &json!({"code": "ducks r us", "name": "", "extraFields": [1], "validFrom": "x", "nmae": "typo"}),
            now(),
        )
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["code", "name", "extraFields", "validFrom", "nmae"]
        );
    }

    #[test]
    fn limits_name_and_extra_fields() {
        let big = "x".repeat(MAX_EXTRA_FIELDS_BYTES);
        let errors = CustomerDraft::parse(
            &json!({"code": "a", "name": "n".repeat(201), "extraFields": {"blob": big}}),
            now(),
        )
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["name", "extraFields"]);
    }

    #[test]
    fn refuses_numbers_postgres_cannot_give_back() {
        let errors = CustomerDraft::parse(
            &json!({"code": "a", "name": "A", "extraFields": {"n": [1.7976931348623157e308]}}),
            now(),
        )
        .unwrap_err();
        assert_eq!(errors[0].field, "extraFields");
        assert!(CustomerDraft::parse(
            &json!({"code": "a", "name": "A", "extraFields": {"n": 1.7e307}}),
            now()
        )
        .is_ok());
    }

    #[test]
    fn defaults_extra_fields_to_an_empty_object() {
        let c = CustomerDraft::parse(&json!({"code": "a", "name": "A"}), now()).unwrap();
        assert!(c.extra_fields.is_empty());
    }
}
