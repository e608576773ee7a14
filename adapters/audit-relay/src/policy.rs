//! The ages given to `--retention` and `--compress-after`, checked before
//! anything reaches the database.
//!
//! TimescaleDB reads a bare number as seconds (`400` became `00:06:40` and the
//! retention policy, which runs when it is added, dropped every chunk but the
//! current one), and a typo only fails inside `add_retention_policy`. So the
//! relay parses the flag itself: a whole number and a unit, nothing else, and
//! hands TimescaleDB an interval it wrote.

use std::fmt;
use std::str::FromStr;

const SECONDS_PER_DAY: u64 = 86_400;
/// A century: far beyond any audit retention, far inside what Postgres
/// intervals hold, so a slip of the keyboard (`4000000 days`) is refused.
const MAX_DAYS: u64 = 36_525;
const MAX_MONTHS: u64 = 1_200;

/// A policy age as the user wrote it, kept in the unit they chose: a month is
/// a calendar month to Postgres, not 30 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyAge {
    Seconds(u64),
    Days(u64),
    Months(u64),
}

impl PolicyAge {
    /// Whether it is under a day, which the relay refuses unless
    /// `--allow-short-policies` asks for it.
    pub fn is_under_a_day(self) -> bool {
        matches!(self, PolicyAge::Seconds(seconds) if seconds < SECONDS_PER_DAY)
    }

    /// The Postgres interval literal handed to TimescaleDB.
    pub fn interval(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for PolicyAge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyAge::Seconds(n) if n % 3_600 == 0 => write!(f, "{} hours", n / 3_600),
            PolicyAge::Seconds(n) if n % 60 == 0 => write!(f, "{} minutes", n / 60),
            PolicyAge::Seconds(n) => write!(f, "{n} seconds"),
            PolicyAge::Days(n) => write!(f, "{n} days"),
            PolicyAge::Months(n) => write!(f, "{n} months"),
        }
    }
}

impl FromStr for PolicyAge {
    type Err = String;

    fn from_str(text: &str) -> Result<PolicyAge, String> {
        let trimmed = text.trim();
        let digits = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(digits);
        let unit = unit.trim_start().to_ascii_lowercase();
        if number.is_empty() {
            return Err(format!(
                "{text:?} is not a whole number of days, weeks, months or years (e.g. '400 days')"
            ));
        }
        if unit.is_empty() {
            return Err(format!(
                "{text:?} has no unit: write e.g. '{number} days' (TimescaleDB would read a bare number as seconds)"
            ));
        }
        let amount: u64 = number
            .parse()
            .map_err(|_| format!("{text:?}: {number} is too large"))?;
        if amount == 0 {
            return Err(format!("{text:?}: the age must be more than zero"));
        }
        let age = match unit.as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => Some(PolicyAge::Seconds(amount)),
            "min" | "mins" | "minute" | "minutes" => amount.checked_mul(60).map(PolicyAge::Seconds),
            "h" | "hr" | "hrs" | "hour" | "hours" => {
                amount.checked_mul(3_600).map(PolicyAge::Seconds)
            }
            "d" | "day" | "days" => Some(PolicyAge::Days(amount)),
            "w" | "week" | "weeks" => amount.checked_mul(7).map(PolicyAge::Days),
            "mon" | "mons" | "month" | "months" => Some(PolicyAge::Months(amount)),
            "y" | "yr" | "yrs" | "year" | "years" => amount.checked_mul(12).map(PolicyAge::Months),
            "m" => {
                return Err(format!(
                    "{text:?}: 'm' could mean minutes or months; write 'min' or 'months'"
                ))
            }
            _ => {
                return Err(format!(
                    "{text:?}: unknown unit {unit:?}; use days, weeks, months or years \
                     (hours, minutes or seconds with --allow-short-policies)"
                ))
            }
        };
        let in_range = match age {
            Some(PolicyAge::Seconds(s)) => s <= MAX_DAYS * SECONDS_PER_DAY,
            Some(PolicyAge::Days(d)) => d <= MAX_DAYS,
            Some(PolicyAge::Months(m)) => m <= MAX_MONTHS,
            None => false,
        };
        match age {
            Some(age) if in_range => Ok(age),
            _ => Err(format!("{text:?} is more than a century")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_keep_the_unit_they_were_written_in() {
        for (text, age) in [
            ("400 days", PolicyAge::Days(400)),
            ("400days", PolicyAge::Days(400)),
            ("  7d ", PolicyAge::Days(7)),
            ("1 day", PolicyAge::Days(1)),
            ("2 weeks", PolicyAge::Days(14)),
            ("13 months", PolicyAge::Months(13)),
            ("1 Year", PolicyAge::Months(12)),
            ("12h", PolicyAge::Seconds(43_200)),
            ("90 min", PolicyAge::Seconds(5_400)),
            ("30s", PolicyAge::Seconds(30)),
        ] {
            assert_eq!(text.parse::<PolicyAge>(), Ok(age), "{text:?}");
        }
        assert_eq!(PolicyAge::Days(400).interval(), "400 days");
        assert_eq!(PolicyAge::Months(12).interval(), "12 months");
        assert_eq!(PolicyAge::Seconds(43_200).interval(), "12 hours");
        assert_eq!(PolicyAge::Seconds(5_400).interval(), "90 minutes");
        assert_eq!(PolicyAge::Seconds(30).interval(), "30 seconds");
    }

    #[test]
    fn bare_numbers_typos_and_nonsense_are_refused_with_a_reason() {
        for (text, reason) in [
            ("400", "has no unit"),
            ("400 dayz", "unknown unit \"dayz\""),
            ("-1", "not a whole number"),
            ("-1 days", "not a whole number"),
            ("1.5 days", "unknown unit \".5 days\""),
            ("0 days", "more than zero"),
            ("days", "not a whole number"),
            ("", "not a whole number"),
            ("1 day 2 hours", "unknown unit"),
            ("5m", "minutes or months"),
            ("36526 days", "more than a century"),
            ("101 years", "more than a century"),
            ("99999999999999999999 days", "too large"),
        ] {
            let error = text.parse::<PolicyAge>().unwrap_err();
            assert!(error.contains(reason), "{text:?}: {error}");
        }
    }

    #[test]
    fn under_a_day_is_only_what_is_shorter_than_24_hours() {
        assert!(PolicyAge::Seconds(86_399).is_under_a_day());
        assert!(!PolicyAge::Seconds(86_400).is_under_a_day());
        assert!(!PolicyAge::Days(1).is_under_a_day());
        assert!(!PolicyAge::Months(1).is_under_a_day());
    }
}
