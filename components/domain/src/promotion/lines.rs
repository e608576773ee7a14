//! A promotion's product lines: `[{productId, discounts: [{type, value,
//! description?}]}]`, parsed with the path of every error, and described
//! for the OpenAPI document from the same limits.

use super::{DISCOUNT_TYPES, MAX_DISCOUNTS, MAX_INTEGER_DIGITS, MAX_PRODUCTS};
use crate::fields::{FieldError, Fields};
use crate::schema::{Custom, Reference};
use serde_json::{json, Value};
use uuid::Uuid;

pub static PRODUCT_LINES: Custom = Custom {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
