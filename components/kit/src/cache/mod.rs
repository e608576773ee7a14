//! Cache-aside through Spin's key-value API (`default` store): Redis in
//! production through the runtime config, Spin's local store when none names
//! one. The cache is an optimisation: when the store fails, reads go to
//! Postgres and writes still succeed.
//!
//! The key-value API has no TTL, so each value carries its own expiry and
//! the moment it was put (`<unix seconds> <unix ms>\n<record>`): an entry
//! whose invalidation was lost is served at most `cache_ttl_seconds`, and
//! none put before the cache last came back ([`breaker`]).
//!
//! Every call goes through [`breaker`], which knows, across requests on
//! this replica, whether the cache answers and under which of its labels
//! to open it; one store handle serves the whole request (under Spin, each
//! `open` of a Redis store is a PING).

pub mod breaker;

use crate::config;
use breaker::{Decision, State, Via, LABELS};
use spin_sdk::key_value::{Error, Store};
use std::cell::RefCell;
use uuid::Uuid;

const BREAKER_KEY: &str = "spintemp:cache-breaker";

/// What this request knows of the cache. A component instance serves one
/// request, so this lasts exactly one.
#[derive(Default)]
struct ThisRequest {
    decision: Option<Decision>,
    /// The label the store is opened under (an index into [`LABELS`]).
    label: usize,
    /// The cache's store, opened on the first call.
    store: Option<Store>,
    /// Our first call is the replica's probe, not yet back.
    probe_out: bool,
    /// A call failed: the rest of the request does without the cache.
    failed: bool,
    distrust_before: i64,
    /// When the replica last saw a call complete, as this request read it.
    ok_at: i64,
}

thread_local! {
    static REQUEST: RefCell<ThisRequest> = RefCell::default();
}

fn now_ms() -> i64 {
    crate::now().timestamp_millis()
}

/// The replica's view of the cache; `None` (logged) when its store cannot
/// be read, and then the cache is called unguarded.
fn replica_state() -> Option<State> {
    match crate::replica::get(BREAKER_KEY) {
        Ok(value) => Some(State::decode(&value.unwrap_or_default())),
        Err(why) => {
            crate::log_line!("cache: replica state unreadable: {why}; calling the cache unguarded");
            None
        }
    }
}

fn write_state(state: &State) {
    if let Err(why) = crate::replica::set(BREAKER_KEY, state.encode().as_bytes()) {
        crate::log_line!("cache: could not record the cache's state: {why}");
    }
}

/// After a call (a probe or not) came back: the replica's state moves on,
/// from what it is now, not from what it was when the request began.
fn record_outcome(answered: bool, was_probe: bool, via: Via) -> Option<State> {
    let state = replica_state()?;
    let now = now_ms();
    let next = if answered {
        state.answered(now, was_probe, via)
    } else {
        state.failed(now, via)
    };
    if next != state {
        write_state(&next);
    }
    Some(next)
}

/// This request's decision, made on its first use of the cache.
fn decide(request: &mut ThisRequest) -> Decision {
    if let Some(decision) = request.decision {
        return decision;
    }
    let decision = match replica_state() {
        None => Decision::Use,
        Some(state) => {
            let (decision, announce) = state.decide(now_ms());
            if let Some(next) = announce {
                write_state(&next);
            }
            request.distrust_before = state.distrust_before;
            request.ok_at = state.ok_at;
            request.label = state.label;
            decision
        }
    };
    set_decision(request, decision);
    decision
}

fn set_decision(request: &mut ThisRequest, decision: Decision) {
    request.probe_out = decision == Decision::Probe;
    request.decision = Some(decision);
    if decision == (Decision::Skip { probe_after: true }) {
        crate::request::after_response(probe_after_response);
    }
}

/// Runs `call` on the cache's store, unless the breaker says not to.
/// `None` when it was not called or failed (and then the breaker knows).
fn call<T>(what: &str, op: impl FnOnce(&Store) -> Result<T, Error>) -> Option<T> {
    REQUEST.with_borrow_mut(|request| {
        if request.failed || matches!(decide(request), Decision::Skip { .. }) {
            return None;
        }
        if request.store.is_none() {
            match Store::open(LABELS[request.label]) {
                Ok(store) => request.store = Some(store),
                Err(e) => return failed(request, "open", e),
            }
        }
        match op(request.store.as_ref()?) {
            Ok(value) => {
                let was_probe = std::mem::take(&mut request.probe_out);
                // (ok_at 0: the replica's state could not be read, and this
                // request calls the cache unguarded; nothing to refresh.)
                let stale = request.ok_at != 0 && now_ms() - request.ok_at >= breaker::REFRESH_MS;
                if was_probe || stale {
                    // If the call took long enough for the breaker to open,
                    // its answer closed it, and what this request reads next
                    // must not be older than that.
                    if let Some(now) = record_outcome(true, was_probe, Via::Label(request.label)) {
                        request.distrust_before = now.distrust_before;
                        request.ok_at = now.ok_at;
                    }
                }
                Some(value)
            }
            Err(e) => failed(request, what, e),
        }
    })
}

fn failed<T>(request: &mut ThisRequest, what: &str, e: impl std::fmt::Display) -> Option<T> {
    crate::log_line!(
        "cache {what} failed, serving from Postgres until the cache answers again: {e}"
    );
    request.failed = true;
    let was_probe = std::mem::take(&mut request.probe_out);
    record_outcome(false, was_probe, Via::Label(request.label));
    None
}

/// The probe a request was given, run once its response is sent: no client
/// waits for it, however long the cache takes. It opens a connection of its
/// own (outbound Redis to `cache_address`), because the store's connection, if
/// it broke, may be waiting minutes for its next reconnect try. It holds no
/// password: a reply of any kind (a PONG, or a refusal for want of one)
/// means the cache answers; a refused or failed connection means it does
/// not.
fn probe_after_response() {
    let answered = probe();
    if let Err(e) = &answered {
        crate::log_line!("cache probe failed: {e}");
    }
    record_outcome(answered.is_ok(), true, Via::Probe);
}

fn probe() -> Result<(), String> {
    let address = spin_sdk::variables::get("cache_address")
        .map_err(|e| format!("variable cache_address: {e}"))?;
    let connection =
        spin_sdk::redis::Connection::open(&address).map_err(|e| format!("{address}: {e}"))?;
    // Opening it was already answered (redis-rs sends CLIENT SETINFO and
    // waits); the PING says so even where a client skips that.
    let _pong_or_refusal = connection.execute("PING", &[]);
    Ok(())
}

/// What `GET /api/health` says of the cache, without ever calling it (it
/// would wait as long as a hung cache hangs): up only when it has answered
/// this replica and the breaker is closed; down when the breaker is open,
/// a probe has been out too long, or it never answered yet (a replica that
/// just started says so until its first probe is back). When nothing has
/// called the cache lately, the health check's own response is followed by
/// a probe.
pub fn health() -> Result<(), String> {
    REQUEST.with_borrow_mut(|request| {
        let Some(state) = replica_state() else {
            return Err("the replica's own store is unavailable".to_owned());
        };
        let (decision, next) = state.decide(now_ms());
        let decision = match decision {
            Decision::Probe => Decision::Skip { probe_after: true },
            other => other,
        };
        set_decision(request, decision);
        let known = next.unwrap_or(state);
        if let Some(next) = next {
            write_state(&next);
        }
        if known.is_open() {
            Err(format!("down since {} (unix ms)", known.down_since))
        } else if known.ok_at == 0 {
            Err("not reached yet".to_owned())
        } else {
            Ok(())
        }
    })
}

pub struct Cache;

/// `spintemp:<objectType>:<id>`: one key per record.
pub fn key(object_type: &str, id: Uuid) -> String {
    format!("spintemp:{object_type}:{id}")
}

impl Cache {
    pub fn open() -> Cache {
        Cache
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let stored = call("get", |store| store.get(key))??;
        let entry = Entry::parse(&stored)?;
        let distrust_before = REQUEST.with_borrow(|r| r.distrust_before);
        (crate::now().timestamp() < entry.expires_at && entry.put_at >= distrust_before)
            .then(|| entry.value.to_vec())
    }

    /// Only readers fill the cache, so only they read (and are given)
    /// `cache_ttl_seconds`.
    pub fn put(&self, key: &str, value: &[u8]) {
        let ttl_seconds = config::number_or("cache_ttl_seconds", 60).clamp(1, 86_400) as i64;
        self.put_until(key, value, crate::now().timestamp() + ttl_seconds);
    }

    /// Stores `value` to be served until `expires_at` (unix seconds).
    pub fn put_until(&self, key: &str, value: &[u8], expires_at: i64) {
        let mut stored = format!("{expires_at} {}\n", now_ms()).into_bytes();
        stored.extend_from_slice(value);
        call("put", |store| store.set(key, &stored));
    }

    /// After a committed change. If the cache cannot be told, the breaker
    /// is open (or opens now), and closing it distrusts every older entry.
    pub fn invalidate(&self, key: &str) {
        call(&format!("invalidation of {key}"), |store| store.delete(key));
    }
}

/// A stored value: `<expires at, unix s> <put at, unix ms>\n<value>`.
#[derive(Debug, PartialEq)]
struct Entry<'a> {
    expires_at: i64,
    put_at: i64,
    value: &'a [u8],
}

impl<'a> Entry<'a> {
    /// Anything else (an entry written by an older version, say) is a miss.
    fn parse(stored: &'a [u8]) -> Option<Entry<'a>> {
        let newline = stored.iter().position(|b| *b == b'\n')?;
        let head = std::str::from_utf8(&stored[..newline]).ok()?;
        let (expires_at, put_at) = head.split_once(' ')?;
        Some(Entry {
            expires_at: expires_at.parse().ok()?,
            put_at: put_at.parse().ok()?,
            value: &stored[newline + 1..],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Entry;

    #[test]
    fn entries_carry_their_expiry_and_when_they_were_put() {
        assert_eq!(
            Entry::parse(b"1700000000 1699999940000\n{\"id\":1}"),
            Some(Entry {
                expires_at: 1_700_000_000,
                put_at: 1_699_999_940_000,
                value: b"{\"id\":1}"
            })
        );
        assert_eq!(Entry::parse(b"{\"id\":1}"), None);
        // The format before put times: a miss, put again.
        assert_eq!(Entry::parse(b"1700000000\n{}"), None);
        assert_eq!(Entry::parse(b"soon 1\n{}"), None);
    }
}
