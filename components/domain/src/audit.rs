//! Reading the audit trail: `GET /api/audit` filters and its newest-first
//! keyset cursor.

use crate::fields::FieldError;
use crate::list::parse_limit;
use crate::validity::parse_instant_or_date;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use uuid::Uuid;

pub const OBJECT_TYPES: &[&str] = &["user", "customer", "product", "promotion"];
pub const ACTIONS: &[&str] = &["create", "update", "delete"];

/// Where the previous page ended: events are ordered by (occurredAt, id),
/// newest first, so the next page holds what sorts before this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    /// `occurredAt` in microseconds since the epoch (exact, unlike a float).
    pub occurred_at_micros: i64,
    pub id: Uuid,
}

impl AuditCursor {
    pub fn encode(&self) -> String {
        let mut bytes = self.occurred_at_micros.to_be_bytes().to_vec();
        bytes.extend_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// `None` unless 24 bytes of base64url. The instant is clamped to the
    /// years 1–9999, which Postgres can hold: a cursor beyond them selects
    /// the same page as one at the edge.
    pub fn decode(s: &str) -> Option<AuditCursor> {
        const FIRST: i64 = -62_135_596_800_000_000; // 0001-01-01T00:00:00Z
        const LAST: i64 = 253_402_300_799_999_999; // 9999-12-31T23:59:59.999999Z
        let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
        let (micros, id) = bytes.split_at_checked(8)?;
        Some(AuditCursor {
            occurred_at_micros: i64::from_be_bytes(micros.try_into().ok()?).clamp(FIRST, LAST),
            id: Uuid::from_slice(id).ok()?,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    pub limit: i64,
    pub cursor: Option<AuditCursor>,
    pub object_type: Option<String>,
    pub object_id: Option<Uuid>,
    pub actor: Option<Uuid>,
    pub action: Option<String>,
    /// Inclusive lower bound of `occurredAt`.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound of `occurredAt`.
    pub to: Option<DateTime<Utc>>,
}

impl AuditQuery {
    pub fn parse(query: &str) -> Result<AuditQuery, Vec<FieldError>> {
        let mut q = AuditQuery {
            limit: crate::list::DEFAULT_LIMIT,
            ..AuditQuery::default()
        };
        let mut errors = Vec::new();
        let mut seen = HashSet::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let (name, value) = (name.as_ref(), value.trim());
            if !seen.insert(name.to_owned()) {
                errors.push(FieldError::new(name, "may be given only once"));
                continue;
            }
            let uuid = || Uuid::try_parse(value).map_err(|_| "must be a UUID".to_owned());
            let instant = || {
                parse_instant_or_date(value)
                    .ok_or_else(|| "must be an RFC 3339 instant or a date (YYYY-MM-DD)".to_owned())
            };
            let one_of = |words: &[&str]| {
                words
                    .contains(&value)
                    .then(|| value.to_owned())
                    .ok_or_else(|| format!("must be one of: {}", words.join(", ")))
            };
            let problem = match name {
                "limit" => parse_limit(value).map(|n| q.limit = n),
                "cursor" => AuditCursor::decode(value)
                    .map(|c| q.cursor = Some(c))
                    .ok_or_else(|| "is not a cursor this API returned".to_owned()),
                "objectType" => one_of(OBJECT_TYPES).map(|v| q.object_type = Some(v)),
                "action" => one_of(ACTIONS).map(|v| q.action = Some(v)),
                "objectId" => uuid().map(|v| q.object_id = Some(v)),
                "actor" => uuid().map(|v| q.actor = Some(v)),
                "from" => instant().map(|t| q.from = Some(t)),
                "to" => instant().map(|t| q.to = Some(t)),
                _ => Err("is not a known parameter".to_owned()),
            };
            if let Err(message) = problem {
                errors.push(FieldError::new(name, message));
            }
        }
        if let (Some(from), Some(to)) = (q.from, q.to) {
            if to <= from {
                errors.push(FieldError::new("to", "must be after from"));
            }
        }
        if errors.is_empty() {
            Ok(q)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_exactly() {
        let c = AuditCursor {
            occurred_at_micros: 1_795_000_000_123_456,
            id: Uuid::now_v7(),
        };
        assert_eq!(AuditCursor::decode(&c.encode()), Some(c));
        assert_eq!(AuditCursor::decode("short"), None);
        // Well-formed, but far outside the years Postgres can hold.
        let far = AuditCursor {
            occurred_at_micros: i64::MAX,
            id: Uuid::nil(),
        };
        let decoded = AuditCursor::decode(&far.encode()).unwrap();
        let last = DateTime::<Utc>::from_timestamp_micros(decoded.occurred_at_micros).unwrap();
        assert_eq!(last.to_rfc3339(), "9999-12-31T23:59:59.999999+00:00");
    }

    #[test]
    fn reads_every_filter() {
        let id = Uuid::now_v7();
        let q = AuditQuery::parse(&format!(
            "objectType=customer&objectId={id}&actor={id}&action=update&from=2026-01-01&to=2026-02-01T00:00:00Z&limit=5"
        ))
        .unwrap();
        assert_eq!(q.object_type.as_deref(), Some("customer"));
        assert_eq!(q.object_id, Some(id));
        assert_eq!(q.actor, Some(id));
        assert_eq!(q.action.as_deref(), Some("update"));
        assert_eq!(q.limit, 5);
        assert!(q.from.unwrap() < q.to.unwrap());
    }

    #[test]
    fn names_every_bad_filter() {
        let errors =
            AuditQuery::parse("objectType=invoice&action=Insert&objectId=1&from=x&limit=0&who=me")
                .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["objectType", "action", "objectId", "from", "limit", "who"]
        );
        let errors = AuditQuery::parse("from=2026-02-01&to=2026-01-01").unwrap_err();
        assert_eq!(errors[0].field, "to");
    }
}
