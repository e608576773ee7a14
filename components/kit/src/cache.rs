//! Cache-aside through Spin's key-value API (`default` store): Redis in
//! production through the runtime config, Spin's local store when none names
//! one. The cache is an optimisation: when the store fails, reads go to
//! Postgres and writes still succeed.
//!
//! The key-value API has no TTL, so each value carries its own expiry
//! (`<unix seconds>\n<record>`): an entry whose invalidation was lost is
//! served at most `cache_ttl_seconds`.

use crate::config;
use spin_sdk::key_value::Store;
use std::sync::atomic::{AtomicBool, Ordering};
use uuid::Uuid;

/// Set when a store call fails. A component instance serves one request, so
/// this lasts one request: after the store has failed once (the memo of a
/// token, say), the rest of the request (the record's cache get and put)
/// does not wait on it again.
static FAILED: AtomicBool = AtomicBool::new(false);

fn failed<T>(what: &str, e: impl std::fmt::Display) -> Option<T> {
    eprintln!("cache {what} failed, skipping the cache for this request: {e}");
    FAILED.store(true, Ordering::Relaxed);
    None
}

pub struct Cache {
    store: Option<Store>,
}

/// `spintemp:<objectType>:<id>`: one key per record.
pub fn key(object_type: &str, id: Uuid) -> String {
    format!("spintemp:{object_type}:{id}")
}

impl Cache {
    pub fn open() -> Cache {
        if FAILED.load(Ordering::Relaxed) {
            return Cache { store: None };
        }
        let store = Store::open_default().map_or_else(|e| failed("open", e), Some);
        Cache { store }
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let stored = self
            .store
            .as_ref()?
            .get(key)
            .map_or_else(|e| failed("get", e), Some)??;
        let (expires_at, record) = split_expiry(&stored)?;
        (crate::now().timestamp() < expires_at).then(|| record.to_vec())
    }

    /// Only readers fill the cache, so only they read (and are given)
    /// `cache_ttl_seconds`.
    pub fn put(&self, key: &str, value: &[u8]) {
        if self.store.is_some() {
            let ttl_seconds = config::number_or("cache_ttl_seconds", 60).clamp(1, 86_400) as i64;
            self.put_until(key, value, crate::now().timestamp() + ttl_seconds);
        }
    }

    /// Stores `value` to be served until `expires_at` (unix seconds).
    pub fn put_until(&self, key: &str, value: &[u8], expires_at: i64) {
        if let Some(store) = &self.store {
            let mut stored = expires_at.to_string().into_bytes();
            stored.push(b'\n');
            stored.extend_from_slice(value);
            if let Err(e) = store.set(key, &stored) {
                failed::<()>("put", e);
            }
        }
    }

    /// After a committed change. If the store is unreachable the stale entry
    /// lives at most `cache_ttl_seconds`.
    pub fn invalidate(&self, key: &str) {
        if let Some(store) = &self.store {
            if let Err(e) = store.delete(key) {
                failed::<()>(&format!("invalidation of {key}"), e);
            }
        }
    }
}

/// `<unix seconds>\n<record>` → (seconds, record). Anything else (an entry
/// written by an older version, say) is a miss.
fn split_expiry(stored: &[u8]) -> Option<(i64, &[u8])> {
    let newline = stored.iter().position(|b| *b == b'\n')?;
    let expires_at = std::str::from_utf8(&stored[..newline]).ok()?.parse().ok()?;
    Some((expires_at, &stored[newline + 1..]))
}

/// For the health check: can the store answer at all?
pub fn ping() -> Result<(), String> {
    let store = Store::open_default().map_err(|e| e.to_string())?;
    store
        .exists("spintemp:health")
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::split_expiry;

    #[test]
    fn entries_carry_their_expiry() {
        assert_eq!(
            split_expiry(b"1700000000\n{\"id\":1}"),
            Some((1_700_000_000, &b"{\"id\":1}"[..]))
        );
        assert_eq!(split_expiry(b"{\"id\":1}"), None);
        assert_eq!(split_expiry(b"soon\n{}"), None);
    }
}
