//! Product: what is sold and discounted. As a customer, plus the level of
//! the product hierarchy it sits at (the seeds use `sku` and `cat`).

use crate::customer::{CODE, CODE_FILTER, EXTRA_FIELDS, NAME};
use crate::entity::{Entity, Filter, FilterKind, Holder};
use crate::schema::{Field, Kind};

pub const PRODUCT: Entity = Entity {
    table: "products",
    path: "/api/products",
    object_type: "product",
    json_column: "api_json",
    search_columns: &["name"],
    filters: &[
        CODE_FILTER,
        Filter {
            param: "hierarchyLevel",
            kind: FilterKind::Text,
            description: "Exactly this level (sku, cat, …)",
            sql: "t.hierarchy_level = {}",
        },
    ],
    unique_violation: "a product with this code already exists",
    schema_name: "Product",
    fields: &[CODE, NAME, HIERARCHY_LEVEL, EXTRA_FIELDS],
    validity: true,
    server_fields: &[],
    embeds: &[],
    edit_guard: None,
    holders: &[Holder {
        count: "SELECT count(DISTINCT pp.promotion_id) FROM promotion_products pp \
                WHERE pp.product_id = $1::uuid",
        conflict: "{} promotions discount this product: take it out of them or delete them first",
    }],
};

const HIERARCHY_LEVEL: Field = Field {
    name: "hierarchyLevel",
    column: "hierarchy_level",
    kind: Kind::Text { max: 50 },
    required: true,
    description: "The level of the product hierarchy, such as sku or cat",
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::SqlValue;
    use crate::schema::parse;
    use crate::validity::parse_instant;
    use serde_json::json;

    #[test]
    fn a_product_needs_its_hierarchy_level() {
        let now = parse_instant("2026-03-01T12:00:00Z").unwrap();
        let errors = parse(&PRODUCT, &json!({"code": "p1", "name": "Widget"}), now).unwrap_err();
        assert_eq!(errors[0].field, "hierarchyLevel");
        assert_eq!(errors[0].message, "is required");
        let long = "l".repeat(51);
        let errors = parse(
            &PRODUCT,
            &json!({"code": "p1", "name": "W", "hierarchyLevel": long}),
            now,
        )
        .unwrap_err();
        assert_eq!(errors[0].field, "hierarchyLevel");
        let columns = parse(
            &PRODUCT,
            &json!({"code": "p1", "name": "W", "hierarchyLevel": " sku "}),
            now,
        )
        .unwrap();
        assert!(columns.contains(&("hierarchy_level", SqlValue::Text("sku".into()))));
    }
}
