//! `validFrom` / `validThru`, the period every record is valid for.

use crate::fields::Fields;
use chrono::{DateTime, Datelike, Months, NaiveDate, SecondsFormat, Utc};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub from: DateTime<Utc>,
    pub thru: DateTime<Utc>,
}

impl Validity {
    /// Reads both fields. A missing `validFrom` is `now`; a missing
    /// `validThru` is one year after `validFrom` (never after `now`: goTemp
    /// overwrote a client's `validThru` whenever `validFrom` was missing).
    pub fn parse(fields: &mut Fields<'_>, now: DateTime<Utc>) -> Option<Validity> {
        let from = instant_field(fields, "validFrom");
        let thru = instant_field(fields, "validThru");
        let from = match from {
            Err(()) => None,
            Ok(from) => Some(from.unwrap_or(now)),
        };
        let thru = match (thru, from) {
            (Err(()), _) | (Ok(None), None) => None,
            (Ok(Some(thru)), _) => Some(thru),
            (Ok(None), Some(from)) => {
                match from.checked_add_months(Months::new(12)).filter(in_range) {
                    Some(thru) => Some(thru),
                    None => {
                        fields.error(
                            "validFrom",
                            "is too late for the default validThru (a year later); give validThru",
                        );
                        None
                    }
                }
            }
        };
        let (from, thru) = (from?, thru?);
        if thru <= from {
            fields.error("validThru", "must be after validFrom");
            return None;
        }
        Some(Validity { from, thru })
    }
}

fn instant_field(fields: &mut Fields<'_>, name: &'static str) -> Result<Option<DateTime<Utc>>, ()> {
    match fields.value(name) {
        None => Ok(None),
        Some(Value::String(s)) => match parse_instant(s.trim()) {
            Some(t) => Ok(Some(t)),
            None => {
                fields.error(
                    name,
                    "must be an RFC 3339 instant such as 2026-01-31T09:00:00Z",
                );
                Err(())
            }
        },
        Some(_) => {
            fields.error(
                name,
                "must be an RFC 3339 instant such as 2026-01-31T09:00:00Z",
            );
            Err(())
        }
    }
}

/// An RFC 3339 instant within the years 1–9999 (what Postgres and every client
/// library can hold).
pub fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc);
    in_range(&t).then_some(t)
}

/// Years 1–9999, UTC.
pub fn in_range(t: &DateTime<Utc>) -> bool {
    (1..=9999).contains(&t.year())
}

/// `validOn=` accepts an instant or a calendar date (midnight UTC).
pub fn parse_instant_or_date(s: &str) -> Option<DateTime<Utc>> {
    parse_instant(s).or_else(|| {
        let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        Some(date.and_hms_opt(0, 0, 0)?.and_utc())
    })
}

/// The text form sent to Postgres (`$n::text::timestamptz`): exact to the µs.
pub fn to_sql_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        parse_instant("2026-03-01T12:00:00Z").unwrap()
    }

    fn parse(body: Value) -> Result<Validity, Vec<crate::FieldError>> {
        let mut f = Fields::new(&body).unwrap();
        let v = Validity::parse(&mut f, now());
        f.finish(|| v)
    }

    #[test]
    fn defaults_to_a_year_from_now() {
        let v = parse(json!({})).unwrap();
        assert_eq!(v.from, now());
        assert_eq!(to_sql_text(v.thru), "2027-03-01T12:00:00.000000Z");
    }

    #[test]
    fn a_missing_valid_from_keeps_the_clients_valid_thru() {
        let v = parse(json!({"validThru": "2030-01-01T00:00:00Z"})).unwrap();
        assert_eq!(v.from, now());
        assert_eq!(to_sql_text(v.thru), "2030-01-01T00:00:00.000000Z");
    }

    #[test]
    fn valid_thru_defaults_from_the_given_valid_from() {
        let v = parse(json!({"validFrom": "2026-01-01T00:00:00+02:00"})).unwrap();
        assert_eq!(to_sql_text(v.thru), "2026-12-31T22:00:00.000000Z");
    }

    #[test]
    fn thru_must_be_strictly_after_from_and_the_message_says_so() {
        let errors = parse(
            json!({"validFrom": "2026-01-01T00:00:00Z", "validThru": "2026-01-01T00:00:00Z"}),
        )
        .unwrap_err();
        assert_eq!(errors[0].field, "validThru");
        assert_eq!(errors[0].message, "must be after validFrom");
    }

    #[test]
    fn a_default_valid_thru_past_year_9999_is_refused_not_sent() {
        let errors = parse(json!({"validFrom": "9999-06-01T00:00:00Z"})).unwrap_err();
        assert_eq!(errors[0].field, "validFrom");
        assert!(parse(
            json!({"validFrom": "9999-06-01T00:00:00Z", "validThru": "9999-12-31T23:59:59Z"})
        )
        .is_ok());
    }

    #[test]
    fn rejects_non_instants() {
        for bad in [
            json!("yesterday"),
            json!(12),
            json!("2026-13-01T00:00:00Z"),
            json!("2026-01-01"),
        ] {
            let errors = parse(json!({ "validFrom": bad })).unwrap_err();
            assert_eq!(errors[0].field, "validFrom");
        }
    }

    #[test]
    fn valid_on_accepts_dates_and_instants() {
        assert_eq!(
            parse_instant_or_date("2026-05-01")
                .map(to_sql_text)
                .as_deref(),
            Some("2026-05-01T00:00:00.000000Z")
        );
        assert!(parse_instant_or_date("2026-05-01T10:00:00Z").is_some());
        assert!(parse_instant_or_date("soon").is_none());
    }
}
