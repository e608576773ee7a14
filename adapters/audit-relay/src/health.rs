//! What /healthz reports.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::store::Applied;

const STARTING: u8 = 0;
const READY: u8 = 1;
const STOPPED: u8 = 2;

const POLICIES_PENDING: u8 = 0;
const POLICIES_APPLIED: u8 = 1;
const POLICIES_NOT_APPLICABLE: u8 = 2;

#[derive(Debug, Default)]
pub struct Health {
    phase: AtomicU8,
    policies: AtomicU8,
    last: Mutex<Last>,
}

#[derive(Debug, Default, Clone)]
struct Last {
    success_at: Option<DateTime<Utc>>,
    error: Option<(DateTime<Utc>, String)>,
}

/// A snapshot for the HTTP handler.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `starting` (migrating the store), `ok` or `stopped`.
    pub status: &'static str,
    /// `pending` (not applied yet: relaying goes on meanwhile), `applied`
    /// (the TimescaleDB jobs match the configuration) or `not-applicable`
    /// (a plain Postgres store).
    pub policies: &'static str,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl Health {
    pub fn set_ready(&self) {
        self.phase.store(READY, Ordering::Release);
    }

    pub fn set_stopped(&self) {
        self.phase.store(STOPPED, Ordering::Release);
    }

    pub fn set_policies(&self, applied: Applied) {
        let state = match applied {
            Applied::NotHypertable => POLICIES_NOT_APPLICABLE,
            Applied::Hypertable { .. } => POLICIES_APPLIED,
        };
        self.policies.store(state, Ordering::Release);
    }

    pub fn set_ok(&self) {
        self.last.lock().expect("health lock").success_at = Some(Utc::now());
    }

    pub fn set_error(&self, error: String) {
        self.last.lock().expect("health lock").error = Some((Utc::now(), error));
    }

    pub fn report(&self) -> Report {
        let last = self.last.lock().expect("health lock").clone();
        let status = match self.phase.load(Ordering::Acquire) {
            STARTING => "starting",
            READY => "ok",
            _ => "stopped",
        };
        let policies = match self.policies.load(Ordering::Acquire) {
            POLICIES_PENDING => "pending",
            POLICIES_APPLIED => "applied",
            _ => "not-applicable",
        };
        Report {
            status,
            policies,
            last_success_at: last.success_at,
            last_error_at: last.error.as_ref().map(|(at, _)| *at),
            last_error: last.error.map(|(_, error)| error),
        }
    }
}
