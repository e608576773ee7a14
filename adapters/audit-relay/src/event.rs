//! An audit event as it sits in the outbox, and as it leaves for NATS.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

/// One `audit_outbox` row. `before`/`after` stay JSON text: the relay only
/// forwards them, so it never pays for building a JSON tree.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxEvent {
    pub seq: i64,
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub object_type: String,
    pub object_id: Uuid,
    pub action: String,
    pub operation: String,
    pub actor: Uuid,
    pub before: Option<String>,
    pub after: Option<String>,
    pub request_id: String,
}

/// The message body: DOMAIN.md's audit event without `recordedAt`, which
/// only the audit store knows.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    id: Uuid,
    occurred_at: String,
    object_type: &'a str,
    object_id: Uuid,
    action: &'a str,
    operation: &'a str,
    actor: Uuid,
    before: Option<&'a RawValue>,
    after: Option<&'a RawValue>,
    request_id: &'a str,
}

impl OutboxEvent {
    /// `<prefix>.<objectType>.<action>`; the outbox's CHECK constraints keep
    /// both tokens to plain lowercase words.
    pub fn subject(&self, prefix: &str) -> String {
        format!("{prefix}.{}.{}", self.object_type, self.action)
    }

    pub fn payload(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(&Payload {
            id: self.id,
            occurred_at: api_instant(self.occurred_at),
            object_type: &self.object_type,
            object_id: self.object_id,
            action: &self.action,
            operation: &self.operation,
            actor: self.actor,
            before: raw_json(self.before.as_deref())?,
            after: raw_json(self.after.as_deref())?,
            request_id: &self.request_id,
        })
    }
}

/// The same rendering as the app database's `api_instant()`: UTC, µs, `Z`.
pub fn api_instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn raw_json(text: Option<&str>) -> serde_json::Result<Option<&RawValue>> {
    text.map(serde_json::from_str).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn event() -> OutboxEvent {
        OutboxEvent {
            seq: 7,
            id: Uuid::parse_str("0192f0c1-0000-7000-8000-000000000001").unwrap(),
            occurred_at: Utc.timestamp_opt(1_700_000_000, 123_456_000).unwrap(),
            object_type: "customer".into(),
            object_id: Uuid::parse_str("0192f0c1-0000-7000-8000-000000000002").unwrap(),
            action: "update".into(),
            operation: "customers-update".into(),
            actor: Uuid::parse_str("0192f0c1-0000-7000-8000-000000000003").unwrap(),
            before: Some(r#"{"name": "Ducks R Us", "version": 1}"#.into()),
            after: None,
            request_id: "req-1".into(),
        }
    }

    #[test]
    fn payload_has_the_domain_shape() {
        let payload: serde_json::Value =
            serde_json::from_slice(&event().payload().unwrap()).unwrap();
        assert_eq!(
            payload,
            json!({
                "id": "0192f0c1-0000-7000-8000-000000000001",
                "occurredAt": "2023-11-14T22:13:20.123456Z",
                "objectType": "customer",
                "objectId": "0192f0c1-0000-7000-8000-000000000002",
                "action": "update",
                "operation": "customers-update",
                "actor": "0192f0c1-0000-7000-8000-000000000003",
                "before": {"name": "Ducks R Us", "version": 1},
                "after": null,
                "requestId": "req-1"
            })
        );
    }

    #[test]
    fn instants_keep_microseconds_even_when_zero() {
        let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        assert_eq!(api_instant(at), "2023-11-14T22:13:20.000000Z");
    }

    #[test]
    fn subject_names_type_and_action() {
        assert_eq!(event().subject("audit"), "audit.customer.update");
    }

    #[test]
    fn malformed_json_is_an_error_not_a_silent_null() {
        let mut broken = event();
        broken.after = Some("{not json".into());
        assert!(broken.payload().is_err());
    }
}
