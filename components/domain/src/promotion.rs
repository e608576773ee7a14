//! Promotion: which customer gets which discounts on which products, once a
//! second pair of eyes has approved it.
//!
//! Its product lines are stored in order in the row (`products`, jsonb, each
//! discount's value a numeric there) and mirrored by a trigger into
//! `promotion_products`, whose foreign keys keep any promotion from naming a
//! deleted product, whatever races (see the migrations).

use crate::customer::CUSTOMER;
use crate::entity::{Embed, Entity, Filter, FilterKind, Guard, ServerField, SqlValue};
use crate::fields::{FieldError, Fields};
use crate::schema::{Custom, Field, Kind, Reference};
use serde_json::{json, Value};
use uuid::Uuid;

pub const MAX_PRODUCTS: usize = 200;
pub const MAX_DISCOUNTS: usize = 10;
/// numeric(12,2): ten digits before the point.
pub const MAX_INTEGER_DIGITS: usize = 10;

pub const APPROVAL_STATUSES: &[&str] = &["draft", "submitted", "approved", "rejected"];
pub const DISCOUNT_TYPES: &[&str] = &["percent", "amount"];

pub const PROMOTION: Entity = Entity {
    table: "promotions",
    path: "/api/promotions",
    object_type: "promotion",
    json_column: "api_json",
    search_columns: &["name", "description"],
    filters: &[
        Filter {
            param: "name",
            kind: FilterKind::Text,
            description: "The whole name, case-insensitively",
            sql: "lower(t.name) = lower({})",
        },
        Filter {
            param: "customerId",
            kind: FilterKind::Uuid,
            description: "Promotions for this customer",
            sql: "t.customer_id = {}",
        },
        Filter {
            param: "productId",
            kind: FilterKind::Uuid,
            description: "Promotions that discount this product",
            sql: "EXISTS (SELECT FROM promotion_products pp WHERE pp.promotion_id = t.id AND pp.product_id = {})",
        },
        Filter {
            param: "approvalStatus",
            kind: FilterKind::OneOf(APPROVAL_STATUSES),
            description: "",
            sql: "t.approval_status = {}",
        },
        Filter {
            param: "active",
            kind: FilterKind::Bool,
            description: "",
            sql: "t.active = {}",
        },
    ],
    unique_violation: "this promotion conflicts with another record",
    schema_name: "Promotion",
    fields: &[
        Field {
            name: "name",
            column: "name",
            kind: Kind::Text { max: 100 },
            required: true,
            description: "",
        },
        Field {
            name: "description",
            column: "description",
            kind: Kind::Text { max: 255 },
            required: false,
            description: "",
        },
        Field {
            name: "customerId",
            column: "customer_id",
            kind: Kind::Reference(&Reference {
                table: "customers",
                message: "must name an existing customer whose validity has not ended",
                given: "SELECT 'customerId' AS path, {} AS ref",
                held: "SELECT p.customer_id FROM promotions p WHERE p.id = $1::uuid",
            }),
            required: true,
            description: "An existing customer whose validity has not ended (a promotion keeps its customer after that)",
        },
        Field {
            name: "active",
            column: "active",
            kind: Kind::Bool { default: true },
            required: false,
            description: "",
        },
        Field {
            name: "products",
            column: "products",
            kind: Kind::Custom(&PRODUCT_LINES),
            required: false,
            description: "In order; each product at most once. Default: none",
        },
    ],
    validity: true,
    server_fields: &[
        ServerField {
            name: "customerName",
            schema: r#"{"type": "string", "description": "The customer's name as it is now"}"#,
        },
        ServerField {
            name: "approvalStatus",
            schema: r#"{"enum": ["draft", "submitted", "approved", "rejected"], "description": "Changed only by POST /api/promotions/{id}/transitions"}"#,
        },
        ServerField {
            name: "prevApprovalStatus",
            schema: r#"{"enum": ["draft", "submitted", "approved", "rejected", null], "description": "The status before the last transition"}"#,
        },
        ServerField {
            name: "submittedBy",
            schema: r#"{"type": ["string", "null"], "format": "uuid", "description": "Who last submitted it"}"#,
        },
        ServerField {
            name: "decidedBy",
            schema: r#"{"type": ["string", "null"], "format": "uuid", "description": "Who approved or rejected its last submission"}"#,
        },
        ServerField {
            name: "approvalComment",
            schema: r#"{"type": ["string", "null"], "description": "The comment of the last transition"}"#,
        },
    ],
    embeds: &[Embed {
        name: "customerName",
        id_field: "customerId",
        entity: &CUSTOMER,
        source_field: "name",
        sql: "(SELECT c.name FROM customers c WHERE c.id = t.customer_id)",
    }],
    edit_guard: Some(&Guard {
        sql: "current.approval_status = 'draft'",
        conflict: "only a draft promotion may be changed or deleted (a rejected one goes back to \
                   draft with a transition)",
    }),
    holders: &[],
};

static PRODUCT_LINES: Custom = Custom {
    parse: parse_product_lines,
    input_schema: product_lines_input_schema,
    output_schema: product_lines_output_schema,
    default: || json!([]),
    references: Some(&Reference {
        table: "products",
        message: "must name an existing product whose validity has not ended",
        given: "SELECT format('products[%s].productId', x.ord - 1) AS path, \
                (x.line->>'productId')::uuid AS ref \
                FROM jsonb_array_elements({}) WITH ORDINALITY AS x(line, ord)",
        held: "SELECT pp.product_id FROM promotion_products pp WHERE pp.promotion_id = $1::uuid",
    }),
};

/// `products`: `[{productId, discounts: [{type, value, description?}]}]`.
/// Each value leaves as a canonical decimal string (`"12.50"`), never a
/// float; the database keeps it as a numeric.
fn parse_product_lines(value: &Value, errors: &mut Vec<FieldError>) -> Option<Value> {
    let Value::Array(lines) = value else {
        errors.push(FieldError::new("products", "must be a list"));
        return None;
    };
    if lines.len() > MAX_PRODUCTS {
        errors.push(FieldError::new(
            "products",
            format!("may hold at most {MAX_PRODUCTS} products"),
        ));
        return None;
    }
    let before = errors.len();
    let mut seen: Vec<Uuid> = Vec::new();
    let mut parsed = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let path = format!("products[{i}]");
        let parsed_line = parse_line(line, &path, errors);
        // A product named twice is an error of its own, whatever else is
        // wrong with either line.
        let id = line
            .get("productId")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::try_parse(s.trim()).ok());
        if let Some(id) = id {
            if let Some(first) = seen.iter().position(|s| *s == id) {
                errors.push(FieldError::new(
                    format!("{path}.productId"),
                    format!("is already in this promotion (products[{first}])"),
                ));
            }
            seen.push(id);
        }
        if let Some((id, discounts)) = parsed_line {
            parsed.push(json!({"productId": id, "discounts": discounts}));
        }
    }
    (errors.len() == before).then_some(Value::Array(parsed))
}

fn parse_line(
    line: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Option<(Uuid, Vec<Value>)> {
    let mut f = match Fields::at(line, path) {
        Ok(f) => f,
        Err(e) => {
            errors.extend(e);
            return None;
        }
    };
    let id = match f.value("productId") {
        Some(Value::String(s)) => Uuid::try_parse(s.trim()).ok(),
        _ => None,
    };
    if id.is_none() {
        f.error("productId", "must be the UUID of a product");
    }
    let discounts = match f.value("discounts") {
        Some(Value::Array(list)) if list.is_empty() || list.len() > MAX_DISCOUNTS => {
            f.error(
                "discounts",
                format!("must hold 1 to {MAX_DISCOUNTS} discounts"),
            );
            None
        }
        Some(Value::Array(list)) => {
            let parsed: Vec<Option<Value>> = list
                .iter()
                .enumerate()
                .map(|(j, d)| parse_discount(d, &format!("{path}.discounts[{j}]"), f.errors_mut()))
                .collect();
            parsed.into_iter().collect::<Option<Vec<_>>>()
        }
        _ => {
            f.error(
                "discounts",
                format!("must be a list of 1 to {MAX_DISCOUNTS} discounts"),
            );
            None
        }
    };
    match f.finish(|| Some((id?, discounts?))) {
        Ok(line) => Some(line),
        Err(e) => {
            errors.extend(e);
            None
        }
    }
}

fn parse_discount(discount: &Value, path: &str, errors: &mut Vec<FieldError>) -> Option<Value> {
    let mut f = match Fields::at(discount, path) {
        Ok(f) => f,
        Err(e) => {
            errors.extend(e);
            return None;
        }
    };
    let kind = match f.value("type") {
        Some(Value::String(s)) if DISCOUNT_TYPES.contains(&s.as_str()) => Some(s.clone()),
        _ => {
            f.error("type", "must be \"percent\" or \"amount\"");
            None
        }
    };
    let value = match f.value("value") {
        Some(Value::String(s)) => match (decimal(s.trim()), kind.as_deref()) {
            (None, _) => {
                f.error(
                    "value",
                    "must be a decimal such as \"12.50\": digits, at most two after the point",
                );
                None
            }
            (Some(d), Some("percent")) if !(d.cents > 0 && d.cents <= 100_00) => {
                f.error("value", "a percentage must be more than 0 and at most 100");
                None
            }
            (Some(d), _) if d.cents == 0 => {
                f.error("value", "must be more than 0");
                None
            }
            (Some(d), _) => Some(d.to_string()),
        },
        Some(_) => {
            f.error(
                "value",
                "must be a string holding a decimal, such as \"12.50\" (never a float)",
            );
            None
        }
        None => {
            f.error("value", "is required");
            None
        }
    };
    let description = f.optional_text("description", 200);
    let description_ok = !f.has_error("description");
    let parsed = f.finish(|| {
        description_ok.then_some(())?;
        Some(json!({"type": kind?, "value": value?, "description": description}))
    });
    match parsed {
        Ok(d) => Some(d),
        Err(e) => {
            errors.extend(e);
            None
        }
    }
}

/// A positive decimal of at most 10 digits before the point and 2 after,
/// in hundredths.
#[derive(Debug, PartialEq)]
struct Decimal {
    cents: u64,
}

fn decimal(s: &str) -> Option<Decimal> {
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || whole.len() > MAX_INTEGER_DIGITS
        || fraction.len() > 2
        || (s.contains('.') && fraction.is_empty())
        || !digits(whole)
        || !digits(fraction)
    {
        return None;
    }
    let fraction = format!("{fraction:0<2}");
    Some(Decimal {
        cents: whole.parse::<u64>().ok()? * 100 + fraction.parse::<u64>().ok()?,
    })
}

impl std::fmt::Display for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}", self.cents / 100, self.cents % 100)
    }
}

const DECIMAL_PATTERN: &str = r"^[0-9]{1,10}(\.[0-9]{1,2})?$";

fn product_lines_input_schema() -> Value {
    json!({
        "type": "array",
        "maxItems": MAX_PRODUCTS,
        "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["productId", "discounts"],
            "properties": {
                "productId": {"type": "string", "format": "uuid", "description": "An existing product whose validity has not ended, at most once per promotion"},
                "discounts": {
                    "type": "array", "minItems": 1, "maxItems": MAX_DISCOUNTS,
                    "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["type", "value"],
                        "properties": {
                            "type": {"enum": DISCOUNT_TYPES},
                            "value": {"type": "string", "pattern": DECIMAL_PATTERN,
                                      "description": "A decimal string: percent more than 0 and at most 100, amount more than 0"},
                            "description": {"type": ["string", "null"], "maxLength": 200, "pattern": r"^[^\u0000]*$"}
                        }
                    }
                }
            }
        }
    })
}

fn product_lines_output_schema() -> Value {
    json!({
        "type": "array",
        "items": {
            "type": "object",
            "required": ["productId", "discounts"],
            "properties": {
                "productId": {"type": "string", "format": "uuid"},
                "discounts": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type", "value", "description"],
                        "properties": {
                            "type": {"enum": DISCOUNT_TYPES},
                            "value": {"type": "string", "pattern": r"^[0-9]{1,10}\.[0-9]{2}$"},
                            "description": {"type": ["string", "null"]}
                        }
                    }
                }
            }
        }
    })
}

/// The four-eyes workflow: what may follow a status, and who may move it.
pub mod workflow {
    use super::*;

    /// `POST /api/promotions/:id/transitions`.
    #[derive(Debug, PartialEq)]
    pub struct Transition {
        pub to: &'static str,
        pub comment: Option<String>,
    }

    impl Transition {
        pub fn parse(body: &Value) -> Result<Transition, Vec<FieldError>> {
            let mut f = Fields::new(body)?;
            let to = match f.value("to") {
                Some(Value::String(s)) => APPROVAL_STATUSES.iter().copied().find(|w| *w == s),
                _ => None,
            };
            if to.is_none() {
                f.error(
                    "to",
                    format!("must be one of: {}", APPROVAL_STATUSES.join(", ")),
                );
            }
            let comment = f.optional_text("comment", 500);
            let comment_ok = !f.has_error("comment");
            f.finish(|| {
                comment_ok.then_some(())?;
                Some(Transition { to: to?, comment })
            })
        }
    }

    /// The statuses `from` may move to.
    pub fn next(from: &str) -> &'static [&'static str] {
        match from {
            "draft" => &["submitted"],
            "submitted" => &["approved", "rejected"],
            "rejected" => &["draft"],
            _ => &[],
        }
    }

    #[derive(Debug, PartialEq)]
    pub enum Refusal {
        /// 409: not a transition the workflow has.
        NotAllowed(String),
        /// 403: a decision needs an administrator other than the submitter.
        Forbidden(&'static str),
    }

    /// Whether `actor` may move a promotion from `from` to `to`.
    pub fn check(
        from: &str,
        to: &str,
        actor: Uuid,
        actor_is_admin: bool,
        submitted_by: Option<Uuid>,
    ) -> Result<(), Refusal> {
        let allowed = next(from);
        if !allowed.contains(&to) {
            let then = if allowed.is_empty() {
                "none: it is final".to_owned()
            } else {
                allowed.join(" or ")
            };
            return Err(Refusal::NotAllowed(format!(
                "a {from} promotion cannot become {to}; it may become {then}"
            )));
        }
        if from == "submitted" {
            if !actor_is_admin {
                return Err(Refusal::Forbidden(
                    "only an administrator may approve or reject a promotion",
                ));
            }
            if submitted_by == Some(actor) {
                return Err(Refusal::Forbidden(
                    "four eyes: the user who submitted a promotion may not approve or reject it",
                ));
            }
        }
        Ok(())
    }

    /// The columns a transition writes: the status, the one before, the
    /// comment, and who submitted or decided.
    pub fn columns(
        from: &str,
        transition: &Transition,
        actor: Uuid,
    ) -> Vec<(&'static str, SqlValue)> {
        let mut columns = vec![
            ("approval_status", SqlValue::Text(transition.to.to_owned())),
            ("prev_approval_status", SqlValue::Text(from.to_owned())),
            (
                "approval_comment",
                SqlValue::OptionalText(transition.comment.clone()),
            ),
        ];
        match transition.to {
            "submitted" => {
                columns.push(("submitted_by", SqlValue::OptionalUuid(Some(actor))));
                columns.push(("decided_by", SqlValue::OptionalUuid(None)));
            }
            "approved" | "rejected" => {
                columns.push(("decided_by", SqlValue::OptionalUuid(Some(actor))))
            }
            _ => {}
        }
        columns
    }
}

#[cfg(test)]
mod tests {
    use super::workflow::{check, Refusal, Transition};
    use super::*;
    use crate::schema::parse;
    use crate::validity::parse_instant;

    fn now() -> chrono::DateTime<chrono::Utc> {
        parse_instant("2026-03-01T12:00:00Z").unwrap()
    }

    fn body(products: Value) -> Value {
        json!({"name": "Spring", "customerId": Uuid::now_v7(), "products": products})
    }

    fn fields_of(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn parses_product_lines_in_order_with_canonical_values() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let columns = parse(
            &PROMOTION,
            &body(json!([
                {"productId": a, "discounts": [{"type": "percent", "value": "12.5"}, {"type": "amount", "value": "3", "description": " off "}]},
                {"productId": b, "discounts": [{"type": "amount", "value": "0.01"}]}
            ])),
            now(),
        )
        .unwrap();
        let products = &columns.iter().find(|(c, _)| *c == "products").unwrap().1;
        assert_eq!(
            products,
            &SqlValue::Json(json!([
                {"productId": a, "discounts": [
                    {"type": "percent", "value": "12.50", "description": null},
                    {"type": "amount", "value": "3.00", "description": "off"}]},
                {"productId": b, "discounts": [{"type": "amount", "value": "0.01", "description": null}]}
            ]))
        );
        assert!(columns.contains(&("active", SqlValue::Bool(true))));
    }

    #[test]
    fn refuses_bad_discounts_with_their_paths() {
        let id = Uuid::now_v7();
        let errors = parse(
            &PROMOTION,
            &body(json!([
                {"productId": id, "discounts": [{"type": "percent", "value": "0.001"}]},
                {"productId": Uuid::now_v7(), "discounts": [{"type": "percent", "value": 1e2}]},
                {"productId": Uuid::now_v7(), "discounts": [{"type": "percent", "value": "1e2"}, {"type": "percent", "value": "100.01"}]},
                {"productId": Uuid::now_v7(), "discounts": [{"type": "amount", "value": "0"}, {"type": "gift", "value": "1"}]},
                {"productId": id, "discounts": [], "colour": "red"}
            ])),
            now(),
        )
        .unwrap_err();
        assert_eq!(
            fields_of(&errors),
            vec![
                "products[0].discounts[0].value",
                "products[1].discounts[0].value",
                "products[2].discounts[0].value",
                "products[2].discounts[1].value",
                "products[3].discounts[0].value",
                "products[3].discounts[1].type",
                "products[4].discounts",
                "products[4].colour",
                "products[4].productId",
            ]
        );
    }

    #[test]
    fn refuses_a_product_twice_and_too_many() {
        let id = Uuid::now_v7();
        let line = json!({"productId": id, "discounts": [{"type": "amount", "value": "1"}]});
        let errors = parse(&PROMOTION, &body(json!([line, line])), now()).unwrap_err();
        assert_eq!(fields_of(&errors), vec!["products[1].productId"]);
        let many: Vec<Value> = (0..=MAX_PRODUCTS)
            .map(|_| json!({"productId": Uuid::now_v7(), "discounts": [{"type": "amount", "value": "1"}]}))
            .collect();
        let errors = parse(&PROMOTION, &body(Value::Array(many)), now()).unwrap_err();
        assert_eq!(fields_of(&errors), vec!["products"]);
    }

    #[test]
    fn a_promotion_needs_a_name_and_a_customer() {
        let errors = parse(
            &PROMOTION,
            &json!({"customerId": "nope", "approvalStatus": "approved"}),
            now(),
        )
        .unwrap_err();
        assert_eq!(fields_of(&errors), vec!["name", "customerId"]);
    }

    #[test]
    fn decimals() {
        assert_eq!(decimal("12.5").unwrap().to_string(), "12.50");
        assert_eq!(decimal("0012").unwrap().to_string(), "12.00");
        assert_eq!(decimal("9999999999.99").unwrap().cents, 999_999_999_999);
        for bad in [
            "",
            ".5",
            "5.",
            "1e2",
            "-1",
            "+1",
            "1.234",
            "12345678901",
            "1,5",
            " 1",
        ] {
            assert_eq!(decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_workflow_has_four_eyes() {
        let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(check("draft", "submitted", alice, false, None), Ok(()));
        assert!(
            matches!(check("draft", "approved", bob, true, None), Err(Refusal::NotAllowed(m)) if m.contains("submitted"))
        );
        assert!(matches!(
            check("submitted", "approved", bob, false, Some(alice)),
            Err(Refusal::Forbidden(_))
        ));
        assert!(
            matches!(check("submitted", "approved", alice, true, Some(alice)), Err(Refusal::Forbidden(m)) if m.contains("four eyes"))
        );
        assert_eq!(
            check("submitted", "rejected", bob, true, Some(alice)),
            Ok(())
        );
        assert_eq!(check("rejected", "draft", alice, false, None), Ok(()));
        assert!(
            matches!(check("approved", "draft", bob, true, None), Err(Refusal::NotAllowed(m)) if m.contains("final"))
        );
        assert_eq!(
            Transition::parse(&json!({"to": "submitted", "comment": " ready "})).unwrap(),
            Transition {
                to: "submitted",
                comment: Some("ready".into())
            }
        );
        assert!(Transition::parse(&json!({"to": "published"})).is_err());
    }
}
