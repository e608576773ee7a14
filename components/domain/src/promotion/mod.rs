//! Promotion: which customer gets which discounts on which products, once a
//! second pair of eyes has approved it.
//!
//! Its product lines are stored in order in the row (`products`, jsonb, each
//! discount's value a numeric there) and mirrored by a trigger into
//! `promotion_products`, whose foreign keys keep any promotion from naming a
//! deleted product, whatever races (see the migrations).

use crate::customer::CUSTOMER;
use crate::entity::{Embed, Entity, Filter, FilterKind, Guard, ServerField};
use crate::schema::{Field, Kind, Reference};

mod lines;
pub mod workflow;

use lines::PRODUCT_LINES;

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

#[cfg(test)]
mod tests {
    use super::workflow::{check, Refusal, Transition};
    use super::*;
    use crate::entity::SqlValue;
    use crate::fields::FieldError;
    use crate::schema::parse;
    use crate::validity::parse_instant;
    use serde_json::{json, Value};
    use uuid::Uuid;

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
