//! Whether this request may call the cache, decided from state that
//! outlives the request: the key-value store `replica`, which the runtime
//! config makes Spin's own store kept in memory (`type = "spin"` without a
//! `path`), so one per Spin process — one per replica.
//!
//! Why: Spin's Redis client has no timeouts (docs/operations.md "When the
//! cache fails"). A hung Redis holds a call for as long as it hangs, a dead
//! one for the reconnect's tries (6 s), and a component cannot give up on a
//! host call. So nothing may call the cache unless the replica has reason to
//! think it answers:
//!
//! - **Closed** (the cache answers; a replica starts so, but probes after
//!   its first response before any request calls it): a call that completed in the last
//!   [`FRESH_MS`] is that reason; requests then call freely, and a call
//!   that completes when the last one recorded is [`REFRESH_MS`] old records
//!   itself. Past it, the next request *announces* a probe (writes
//!   `probing`) and its first call is the probe; others skip the cache while
//!   a probe is out, and when it has been out [`HUNG_MS`] the breaker opens.
//!   A failed call opens it at once.
//! - **Open** (the cache is down): no request calls it. Every
//!   [`RETRY_MS`] one request probes it *after its response is sent*, so no
//!   client waits on it; a probe that succeeds closes the breaker. A probe
//!   that never returns (the instance died) is given up after
//!   [`GIVE_UP_MS`].
//!
//! On closing, every entry put before that moment is distrusted (read again
//! from Postgres and put again): the writes made while the cache was down
//! could not invalidate theirs. So a dead or hung cache costs the requests
//! that were calling it when it failed and, at most, the one that probes it
//! next; everything after is served from Postgres until a probe finds it
//! back.
//!
//! The state is one short text value; reading it is one call to an
//! in-memory store per request. Writers race (read, then write), and the
//! loser's state is overwritten; each state is one a probe will correct
//! within [`RETRY_MS`].

/// A call that completed this recently (ms) means the cache answers.
pub const FRESH_MS: i64 = 100;
/// A call that completes when the replica last saw one complete this long
/// ago (ms) says so: under load, calls keep the state fresh and no probe is
/// needed (a probe makes every other request skip the cache while it is
/// out). Half of [`FRESH_MS`], so that a busy replica's state never ages
/// past it; at most one write per this long per request.
pub const REFRESH_MS: i64 = FRESH_MS / 2;
/// A probe out this long (ms) means the cache hangs: the breaker opens.
pub const HUNG_MS: i64 = 250;
/// While open, how often (ms) a request probes after its response.
pub const RETRY_MS: i64 = 1_000;
/// A probe not back after this long (ms) is given up for another.
pub const GIVE_UP_MS: i64 = 30_000;

/// The replica's view of the cache (all times unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct State {
    /// When a cache call last completed.
    pub ok_at: i64,
    /// When the last probe started.
    pub probe_at: i64,
    /// Whether that probe is still out.
    pub probing: bool,
    /// Since when the cache is down (the breaker is open); 0 when closed.
    pub down_since: i64,
    /// Entries put before this are not served.
    pub distrust_before: i64,
}

/// What a request does with the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Call it.
    Use,
    /// Call it; the first call is the probe, whose outcome is recorded.
    Probe,
    /// Do not call it. With `probe_after`, probe it once the response is
    /// sent.
    Skip { probe_after: bool },
}

impl State {
    pub fn is_open(&self) -> bool {
        self.down_since != 0
    }

    /// What a request that finds this state at `now` does, and the state it
    /// writes first (for a probe: that one is out).
    pub fn decide(&self, now: i64) -> (Decision, Option<State>) {
        let announce = State {
            probe_at: now,
            probing: true,
            ..*self
        };
        if self.is_open() {
            let out = self.probing && now - self.probe_at < GIVE_UP_MS;
            let last_try = self.probe_at.max(self.down_since);
            if !out && now - last_try >= RETRY_MS {
                return (Decision::Skip { probe_after: true }, Some(announce));
            }
            return (Decision::Skip { probe_after: false }, None);
        }
        if now - self.ok_at < FRESH_MS {
            return (Decision::Use, None);
        }
        if self.probing {
            if now - self.probe_at >= HUNG_MS {
                let open = State {
                    down_since: self.probe_at,
                    ..*self
                };
                return (Decision::Skip { probe_after: false }, Some(open));
            }
            return (Decision::Skip { probe_after: false }, None);
        }
        // A replica that has never reached the cache (just started) probes
        // after its response: the one call no client may wait on is the
        // first, to a cache that may be down (Spin then holds it for
        // minutes). After that, the first call past the fresh window is the
        // probe.
        if self.ok_at == 0 {
            return (Decision::Skip { probe_after: true }, Some(announce));
        }
        (Decision::Probe, Some(announce))
    }

    /// After a probe, or any call, that completed at `now`: the cache
    /// answers. Closing the breaker distrusts every entry put until now.
    pub fn answered(&self, now: i64, was_probe: bool) -> State {
        // A call that took long enough for another request to open the
        // breaker counts as closing it too.
        let reopened = self.is_open();
        State {
            ok_at: now,
            probing: self.probing && !was_probe,
            down_since: 0,
            distrust_before: if reopened { now } else { self.distrust_before },
            ..*self
        }
    }

    /// After a call that failed at `now`: the breaker opens (or stays open).
    pub fn failed(&self, now: i64, was_probe: bool) -> State {
        State {
            probing: self.probing && !was_probe,
            down_since: if self.is_open() { self.down_since } else { now },
            ..*self
        }
    }

    /// `ok_at probe_at probing down_since distrust_before`.
    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.ok_at,
            self.probe_at,
            u8::from(self.probing),
            self.down_since,
            self.distrust_before
        )
    }

    /// Anything unreadable is the state of a replica that has seen nothing.
    pub fn decode(text: &[u8]) -> State {
        let fields: Vec<i64> = std::str::from_utf8(text)
            .unwrap_or_default()
            .split(' ')
            .filter_map(|f| f.parse().ok())
            .collect();
        match fields[..] {
            [ok_at, probe_at, probing, down_since, distrust_before] => State {
                ok_at,
                probe_at,
                probing: probing == 1,
                down_since,
                distrust_before,
            },
            _ => State::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_800_000_000_000;

    fn closed_at(ok_at: i64) -> State {
        State {
            ok_at,
            ..State::default()
        }
    }

    #[test]
    fn a_cache_that_just_answered_is_used_without_writing() {
        assert_eq!(closed_at(T).decide(T + FRESH_MS - 1), (Decision::Use, None));
    }

    #[test]
    fn past_the_fresh_window_one_request_probes_and_the_others_skip() {
        let (decision, written) = closed_at(T).decide(T + FRESH_MS);
        assert_eq!(decision, Decision::Probe);
        let probing = written.unwrap();
        assert!(probing.probing && probing.probe_at == T + FRESH_MS);
        assert_eq!(
            probing.decide(T + FRESH_MS + 1),
            (Decision::Skip { probe_after: false }, None)
        );
        let answered = probing.answered(T + FRESH_MS + 2, true);
        assert!(!answered.probing && !answered.is_open());
        assert_eq!(answered.decide(T + FRESH_MS + 3).0, Decision::Use);
    }

    #[test]
    fn a_probe_out_too_long_opens_the_breaker_and_nothing_calls_the_cache() {
        let probing = closed_at(T).decide(T + FRESH_MS).1.unwrap();
        let (decision, written) = probing.decide(T + FRESH_MS + HUNG_MS);
        assert_eq!(decision, Decision::Skip { probe_after: false });
        let open = written.unwrap();
        assert_eq!(open.down_since, T + FRESH_MS);
        // The hung probe is still out: nobody probes until it is given up.
        assert_eq!(
            open.decide(T + FRESH_MS + RETRY_MS * 5),
            (Decision::Skip { probe_after: false }, None)
        );
        let (decision, written) = open.decide(T + FRESH_MS + GIVE_UP_MS);
        assert_eq!(decision, Decision::Skip { probe_after: true });
        assert!(written.unwrap().probing);
    }

    #[test]
    fn a_failed_call_opens_and_a_probe_every_retry_tries_again_after_the_response() {
        let open = closed_at(T).failed(T + 5, false);
        assert_eq!(open.down_since, T + 5);
        assert_eq!(
            open.decide(T + 5 + RETRY_MS - 1),
            (Decision::Skip { probe_after: false }, None)
        );
        let (decision, written) = open.decide(T + 5 + RETRY_MS);
        assert_eq!(decision, Decision::Skip { probe_after: true });
        let probing = written.unwrap();
        // While it is out (a dead Redis holds it for the reconnect's tries),
        // nobody else probes.
        assert_eq!(
            probing.decide(T + 5 + RETRY_MS * 4),
            (Decision::Skip { probe_after: false }, None)
        );
        let still_down = probing.failed(T + RETRY_MS + 6_000, true);
        assert!(still_down.is_open() && !still_down.probing);
        assert_eq!(still_down.down_since, T + 5);
    }

    #[test]
    fn closing_distrusts_every_entry_put_before() {
        let open = closed_at(T).failed(T + 5, false);
        let probing = open.decide(T + 5 + RETRY_MS).1.unwrap();
        let closed = probing.answered(T + RETRY_MS + 9, true);
        assert!(!closed.is_open());
        assert_eq!(closed.distrust_before, T + RETRY_MS + 9);
        // An ordinary answer while closed keeps the mark where it was.
        assert_eq!(
            closed.answered(T + 9_000, false).distrust_before,
            closed.distrust_before
        );
    }

    #[test]
    fn state_round_trips_and_garbage_is_a_fresh_replica() {
        let state = State {
            ok_at: 1,
            probe_at: 2,
            probing: true,
            down_since: 3,
            distrust_before: 4,
        };
        assert_eq!(State::decode(state.encode().as_bytes()), state);
        assert_eq!(State::decode(b"nonsense"), State::default());
    }

    #[test]
    fn a_replica_that_never_reached_the_cache_probes_after_the_response() {
        let (decision, written) = State::default().decide(T);
        assert_eq!(decision, Decision::Skip { probe_after: true });
        assert!(written.unwrap().probing);
    }
}
