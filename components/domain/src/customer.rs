//! Customer: who buys. `code` is the business key (unique, case-insensitive).

use crate::entity::{Entity, Filter, FilterKind, Holder};
use crate::fields::Fields;
use crate::schema::{Field, Kind};
use crate::text::is_code;
use serde_json::{Map, Value};

/// `extraFields` is free-form, but bounded so a record stays cacheable.
pub const MAX_EXTRA_FIELDS_BYTES: usize = 16 * 1024;

pub const CUSTOMER: Entity = Entity {
    table: "customers",
    path: "/api/customers",
    object_type: "customer",
    json_column: "api_json",
    search_columns: &["name"],
    filters: &[CODE_FILTER],
    unique_violation: "a customer with this code already exists",
    schema_name: "Customer",
    fields: &[CODE, NAME, EXTRA_FIELDS],
    validity: true,
    server_fields: &[],
    embeds: &[],
    edit_guard: None,
    holders: &[Holder {
        count: "SELECT count(*) FROM promotions p WHERE p.customer_id = $1::uuid",
        conflict:
            "{} promotions are for this customer: delete them or give them another customer first",
    }],
};

/// Fields customers and products share.
pub const CODE: Field = Field {
    name: "code",
    column: "code",
    kind: Kind::Code,
    required: true,
    description: "Unique, case-insensitively",
};
pub const NAME: Field = Field {
    name: "name",
    column: "name",
    kind: Kind::Text { max: 200 },
    required: true,
    description: "",
};
pub const EXTRA_FIELDS: Field = Field {
    name: "extraFields",
    column: "extra_fields",
    kind: Kind::ExtraFields,
    required: false,
    description: "Free-form, at most 16 KiB; numbers below 1e308 in magnitude",
};
pub const CODE_FILTER: Filter = Filter {
    param: "code",
    kind: FilterKind::Code,
    description: "",
    sql: "lower(t.code) = lower({})",
};

/// `code`: shared by customers and products.
pub fn code_field(f: &mut Fields<'_>, name: &'static str) -> Option<String> {
    let code = f.required_text(name, 50)?;
    if !is_code(&code) {
        f.error(name, "may contain only letters, digits, '_' and '-'");
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
    use crate::entity::SqlValue;
    use crate::fields::FieldError;
    use crate::schema::{parse, Columns};
    use crate::validity::parse_instant;
    use chrono::{DateTime, Utc};
    use serde_json::json;

    struct CustomerDraft;
    impl CustomerDraft {
        fn parse(body: &Value, now: DateTime<Utc>) -> Result<Columns, Vec<FieldError>> {
            parse(&CUSTOMER, body, now)
        }
    }

    fn column<'a>(columns: &'a Columns, name: &str) -> &'a SqlValue {
        &columns.iter().find(|(c, _)| *c == name).unwrap().1
    }

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
        assert_eq!(column(&c, "code"), &SqlValue::Text("ducksrus".into()));
        assert_eq!(
            column(&c, "extra_fields"),
            &SqlValue::Json(json!({"tier": "gold"}))
        );
        assert_eq!(
            c.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
            ["code", "name", "extra_fields", "valid_from", "valid_thru"]
        );
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
        assert_eq!(column(&c, "extra_fields"), &SqlValue::Json(json!({})));
    }
}
