//! The query string of a list route: `limit`, `cursor`, `validOn`, `q` and the
//! entity's own filters. Anything else, or any value of the wrong type, is a
//! 400 that names the parameter.

use crate::entity::{Entity, FilterKind, SqlValue};
use crate::fields::FieldError;
use crate::text::is_code;
use crate::validity::parse_instant_or_date;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use uuid::Uuid;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub limit: i64,
    /// Resume after this id (keyset pagination over the time-ordered UUIDv7s).
    pub after: Option<Uuid>,
    pub valid_on: Option<DateTime<Utc>>,
    /// Case-insensitive substring of the name.
    pub q: Option<String>,
    /// Entity filters that were given: (SQL condition template, value).
    pub filters: Vec<(&'static str, SqlValue)>,
}

impl ListQuery {
    pub fn parse(query: &str, entity: &Entity) -> Result<ListQuery, Vec<FieldError>> {
        let mut list = ListQuery {
            limit: DEFAULT_LIMIT,
            after: None,
            valid_on: None,
            q: None,
            filters: Vec::new(),
        };
        let mut errors = Vec::new();
        let mut seen = HashSet::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let (name, value) = (name.as_ref(), value.trim());
            if value.contains('\0') {
                errors.push(FieldError::new(name, "must not contain NUL characters"));
                continue;
            }
            if !seen.insert(name.to_owned()) {
                errors.push(FieldError::new(name, "may be given only once"));
                continue;
            }
            let problem = match name {
                "limit" => parse_limit(value).map(|n| list.limit = n),
                "cursor" => decode_cursor(value)
                    .map(|id| list.after = Some(id))
                    .ok_or("is not a cursor this API returned".to_owned()),
                "validOn" => parse_instant_or_date(value)
                    .map(|t| list.valid_on = Some(t))
                    .ok_or("must be an RFC 3339 instant or a date (YYYY-MM-DD)".to_owned()),
                "q" => {
                    if value.chars().count() > 200 {
                        Err("must be at most 200 characters".to_owned())
                    } else {
                        list.q = (!value.is_empty()).then(|| value.to_owned());
                        Ok(())
                    }
                }
                _ => match entity.filters.iter().find(|f| f.param == name) {
                    Some(filter) => {
                        parse_filter(filter.kind, value).map(|v| list.filters.push((filter.sql, v)))
                    }
                    None => Err("is not a known parameter".to_owned()),
                },
            };
            if let Err(message) = problem {
                errors.push(FieldError::new(name, message));
            }
        }
        if errors.is_empty() {
            Ok(list)
        } else {
            Err(errors)
        }
    }
}

/// `limit`: 1 to 200.
pub fn parse_limit(value: &str) -> Result<i64, String> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or(format!("must be a whole number from 1 to {MAX_LIMIT}"))
}

fn parse_filter(kind: FilterKind, value: &str) -> Result<SqlValue, String> {
    match kind {
        FilterKind::Code if is_code(value) => Ok(SqlValue::Text(value.to_owned())),
        FilterKind::Code => Err("must be a code of letters, digits, '_' and '-'".to_owned()),
        FilterKind::Text if !value.is_empty() && value.chars().count() <= 200 => {
            Ok(SqlValue::Text(value.to_owned()))
        }
        FilterKind::Text => Err("must be 1 to 200 characters".to_owned()),
        FilterKind::Uuid => Uuid::parse_str(value)
            .map(SqlValue::Uuid)
            .map_err(|_| "must be a UUID".to_owned()),
        FilterKind::Bool => match value {
            "true" => Ok(SqlValue::Bool(true)),
            "false" => Ok(SqlValue::Bool(false)),
            _ => Err("must be true or false".to_owned()),
        },
        FilterKind::OneOf(words) if words.contains(&value) => Ok(SqlValue::Text(value.to_owned())),
        FilterKind::OneOf(words) => Err(format!("must be one of: {}", words.join(", "))),
    }
}

/// Cursors are opaque to clients: the last id of the page, base64url.
pub fn encode_cursor(last: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(last.as_bytes())
}

pub fn decode_cursor(cursor: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    Uuid::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::CUSTOMER;

    #[test]
    fn defaults() {
        let q = ListQuery::parse("", &CUSTOMER).unwrap();
        assert_eq!(q.limit, 50);
        assert!(q.after.is_none() && q.q.is_none() && q.filters.is_empty());
    }

    #[test]
    fn reads_every_parameter() {
        let id = Uuid::now_v7();
        let query = format!(
            "limit=10&cursor={}&validOn=2026-01-01&q=%20Duck%20&code=ducksrus",
            encode_cursor(id)
        );
        let q = ListQuery::parse(&query, &CUSTOMER).unwrap();
        assert_eq!(q.limit, 10);
        assert_eq!(q.after, Some(id));
        assert_eq!(q.q.as_deref(), Some("Duck"));
        assert_eq!(
            q.filters,
            vec![(
                "lower(t.code) = lower({})",
                SqlValue::Text("ducksrus".into())
            )]
        );
    }

    #[test]
    fn names_every_bad_parameter() {
        let errors = ListQuery::parse(
            "limit=0&cursor=zzz&validOn=soon&code=a%20b&colour=red&limit=5",
            &CUSTOMER,
        )
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["limit", "cursor", "validOn", "code", "colour", "limit"]
        );
    }

    #[test]
    fn limit_bounds() {
        assert!(ListQuery::parse("limit=200", &CUSTOMER).is_ok());
        assert!(ListQuery::parse("limit=201", &CUSTOMER).is_err());
        assert!(ListQuery::parse("limit=abc", &CUSTOMER).is_err());
    }
}
