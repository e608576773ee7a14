//! The replica's own key-value store, `replica`: Spin's local store kept in
//! memory (the runtime config says `type = "spin"` without a `path`), so one
//! per Spin process — one per replica — reached without a network round
//! trip, and gone when the process ends. What lives here is what a replica
//! learns and may forget: whether the cache answers ([`crate::cache::breaker`])
//! and which tokens it has verified ([`crate::auth::memo`]).
//!
//! Opened at most once per request (a component instance serves one), by
//! whichever of them needs it first.

use spin_sdk::key_value::Store;
use std::cell::RefCell;

const LABEL: &str = "replica";

thread_local! {
    /// This request's handle, or why it could not be had (not tried again).
    static STORE: RefCell<Option<Result<Store, String>>> = const { RefCell::new(None) };
}

/// The value under `key`; `Err` says why it could not be read (to log).
pub fn get(key: &str) -> Result<Option<Vec<u8>>, String> {
    with(|store| store.get(key))
}

/// Stores `value` under `key`; `Err` says why it could not (to log).
pub fn set(key: &str, value: &[u8]) -> Result<(), String> {
    with(|store| store.set(key, value))
}

fn with<T>(
    call: impl FnOnce(&Store) -> Result<T, spin_sdk::key_value::Error>,
) -> Result<T, String> {
    STORE.with_borrow_mut(|slot| {
        let opened = slot.get_or_insert_with(|| {
            Store::open(LABEL).map_err(|e| format!("store {LABEL:?} unavailable ({e})"))
        });
        match opened {
            Ok(store) => call(store).map_err(|e| format!("store {LABEL:?}: {e}")),
            Err(why) => Err(why.clone()),
        }
    })
}
