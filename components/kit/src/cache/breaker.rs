//! Whether this request may call the cache, and through which of its
//! labels, decided from state that outlives the request: the replica's own
//! store ([`crate::replica`], in memory, one per Spin process).
//!
//! Why: Spin's Redis client has no timeouts (docs/operations.md "When the
//! cache fails"). A hung Redis holds a call for as long as it hangs, a dead
//! one for the reconnect's tries, and a component cannot give up on a host
//! call. So nothing may call the cache unless the replica has reason to
//! think it answers:
//!
//! - **Closed** (the cache answers): a call that completed in the last
//!   [`FRESH_MS`] is that reason; requests then call freely, and a call
//!   that completes when the last one recorded is [`REFRESH_MS`] old records
//!   itself. Past it, the next request *announces* a probe (writes
//!   `probing`) and its first call is the probe; others skip the cache while
//!   a probe is out, and when it has been out [`HUNG_MS`] the breaker opens.
//!   A failed call opens it at once.
//! - **Open** (the cache is down; and a replica that has not reached it
//!   yet): no request calls it. Every [`RETRY_MS`] one request probes it
//!   *after its response is sent*, so no client waits on it, over a
//!   connection of the probe's own (outbound Redis), since the store's may
//!   be waiting out its reconnect; a probe that is answered closes the
//!   breaker. A probe that never returns (the instance died) is given up
//!   after [`GIVE_UP_MS`].
//!
//! **Labels.** Spin keeps one Redis connection per key-value store label
//! and, once it breaks, tries to make it again after 1 s and then only every
//! 60–120 s: a Redis back after a few seconds would go unused for up to two
//! minutes. So the runtime config gives the cache's Redis three labels
//! ([`LABELS`]), and a label that was in use when the cache failed is set
//! aside until its reconnect has surely happened ([`RECOVERY_MS`] after the
//! cache is seen back); the breaker closes on another.
//!
//! On closing, every entry put before that moment is distrusted (read again
//! from Postgres and put again): the writes made while the cache was down
//! could not invalidate theirs. So a dead or hung cache costs the requests
//! that were calling it when it failed and, at most, the one that probes it
//! next; everything after is served from Postgres until a probe finds it
//! back, and then the cache is used again at once.
//!
//! The state is one short text value; reading it is one call to an
//! in-memory store per request. Writers race (read, then write), and the
//! loser's state is overwritten; each state is one a probe will correct
//! within [`RETRY_MS`].

/// The labels of the cache's store, in the order they are taken: all three
/// name the same cache (the runtime config gives each the same Redis).
pub const LABELS: [&str; 3] = ["default", "cache_b", "cache_c"];
/// How long (ms) after the cache is seen back a label whose connection broke
/// may still wait for its next reconnect try: redis-rs 0.32's
/// `ConnectionManager` (Spin 3.6 and 4.0) tries again after 1 s, then every
/// 60 s, each delay jittered up to twice as long.
pub const RECOVERY_MS: i64 = 125_000;
/// `unusable_until` of a label set aside until the cache is seen back.
const UNTIL_BACK: i64 = i64::MAX;

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
/// A probe not back after this long (ms) is given up for another (a probe
/// to a hung Redis waits as long as it hangs).
pub const GIVE_UP_MS: i64 = 10_000;

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
    /// The label in use: an index into [`LABELS`].
    pub label: usize,
    /// Per label, until when it must not be used (0: usable).
    pub unusable_until: [i64; LABELS.len()],
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

/// What a call that completed or failed went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The store, opened under this label (an index into [`LABELS`]).
    Label(usize),
    /// A probe's own connection.
    Probe,
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
        // A replica that has never reached the cache (just started) is as
        // good as open: the one call no client may wait on is the first, to
        // a cache that may be down (Spin then holds it for minutes).
        if self.is_open() || self.ok_at == 0 {
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
                // Its label is set aside, and the next probes have their own
                // connections: they need not wait for this one.
                let mut open = State {
                    down_since: self.probe_at,
                    probing: false,
                    ..*self
                };
                open.unusable_until[self.label] = UNTIL_BACK;
                return (Decision::Skip { probe_after: false }, Some(open));
            }
            return (Decision::Skip { probe_after: false }, None);
        }
        (Decision::Probe, Some(announce))
    }

    /// After a call or a probe that was answered at `now`: the cache
    /// answers. Labels set aside until then may now be waiting for their
    /// reconnect; the one the call went through works. Closing the breaker
    /// takes a usable label and distrusts every entry put until now; with
    /// none usable yet, it stays open and a later probe closes it.
    pub fn answered(&self, now: i64, was_probe: bool, via: Via) -> State {
        let mut next = State {
            probing: self.probing && !was_probe,
            ..*self
        };
        for until in &mut next.unusable_until {
            if *until == UNTIL_BACK {
                *until = now + RECOVERY_MS;
            }
        }
        let closed = !self.is_open() && self.ok_at != 0;
        let label = match via {
            Via::Label(label) => {
                next.unusable_until[label] = 0;
                if closed && label != self.label {
                    // A call that began before the label changed.
                    return next;
                }
                Some(label)
            }
            // A probe's own connection says nothing of the label's: requests
            // that met a fault may have left it waiting for its reconnect.
            // Only a call through it, or the breaker opening, decides.
            Via::Probe if closed => return next,
            Via::Probe => next.usable_label(now),
        };
        let Some(label) = label else {
            return next;
        };
        State {
            ok_at: now,
            down_since: 0,
            // (A call that took long enough for another request to open the
            // breaker counts as closing it too.)
            distrust_before: if self.is_open() {
                now
            } else {
                self.distrust_before
            },
            label,
            ..next
        }
    }

    /// The label in use if it may be used at `now`, else the next one that
    /// may.
    fn usable_label(&self, now: i64) -> Option<usize> {
        (0..LABELS.len())
            .map(|i| (self.label + i) % LABELS.len())
            .find(|&label| self.unusable_until[label] <= now)
    }

    /// After a call that failed at `now`: the breaker opens (or stays open),
    /// and a label whose call failed is set aside until the cache is back.
    /// No probe is out any more: a probe through the store waits on a label
    /// now set aside, and one of its own failed (or this is it). Under load
    /// many calls fail at once, and one that read the state before the
    /// probe's own failure was written must not leave the probe "out" (it
    /// would hold off every probe for [`GIVE_UP_MS`]).
    pub fn failed(&self, now: i64, via: Via) -> State {
        let mut next = State {
            probing: false,
            down_since: if self.is_open() { self.down_since } else { now },
            ..*self
        };
        if let Via::Label(label) = via {
            next.unusable_until[label] = UNTIL_BACK;
        }
        if !self.is_open() {
            // Calls in flight through the label in use met the fault too,
            // and may have set its reconnect waiting.
            next.unusable_until[self.label] = UNTIL_BACK;
        }
        next
    }

    /// `ok_at probe_at probing down_since distrust_before label` and each
    /// label's `unusable_until`.
    pub fn encode(&self) -> String {
        let mut text = format!(
            "{} {} {} {} {} {}",
            self.ok_at,
            self.probe_at,
            u8::from(self.probing),
            self.down_since,
            self.distrust_before,
            self.label
        );
        for until in self.unusable_until {
            text.push_str(&format!(" {until}"));
        }
        text
    }

    /// Anything unreadable is the state of a replica that has seen nothing.
    pub fn decode(text: &[u8]) -> State {
        let fields: Vec<i64> = std::str::from_utf8(text)
            .unwrap_or_default()
            .split(' ')
            .filter_map(|f| f.parse().ok())
            .collect();
        match fields[..] {
            [ok_at, probe_at, probing, down_since, distrust_before, label, a, b, c]
                if (0..LABELS.len() as i64).contains(&label) =>
            {
                State {
                    ok_at,
                    probe_at,
                    probing: probing == 1,
                    down_since,
                    distrust_before,
                    label: label as usize,
                    unusable_until: [a, b, c],
                }
            }
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
        let answered = probing.answered(T + FRESH_MS + 2, true, Via::Label(0));
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
        assert!(
            !open.probing,
            "the hung call's label is set aside; probes go around it"
        );
        assert_eq!(
            open.decide(T + FRESH_MS + RETRY_MS - 1),
            (Decision::Skip { probe_after: false }, None)
        );
        let (decision, written) = open.decide(T + FRESH_MS + RETRY_MS);
        assert_eq!(decision, Decision::Skip { probe_after: true });
        let probing = written.unwrap();
        // A probe that never returns holds the lease until it is given up.
        assert_eq!(
            probing.decide(T + FRESH_MS + RETRY_MS * 5),
            (Decision::Skip { probe_after: false }, None)
        );
        let (decision, written) = probing.decide(T + FRESH_MS + RETRY_MS + GIVE_UP_MS);
        assert_eq!(decision, Decision::Skip { probe_after: true });
        assert!(written.unwrap().probing);
    }

    #[test]
    fn a_failed_call_opens_and_a_probe_every_retry_tries_again_after_the_response() {
        let open = closed_at(T).failed(T + 5, Via::Label(0));
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
        let still_down = probing.failed(T + RETRY_MS + 6_000, Via::Probe);
        assert!(still_down.is_open() && !still_down.probing);
        assert_eq!(still_down.down_since, T + 5);
    }

    #[test]
    fn closing_distrusts_every_entry_put_before() {
        let open = closed_at(T).failed(T + 5, Via::Label(0));
        let probing = open.decide(T + 5 + RETRY_MS).1.unwrap();
        let closed = probing.answered(T + RETRY_MS + 9, true, Via::Probe);
        assert!(!closed.is_open());
        assert_eq!(closed.distrust_before, T + RETRY_MS + 9);
        // An ordinary answer while closed keeps the mark where it was.
        assert_eq!(
            closed
                .answered(T + 9_000, false, Via::Label(closed.label))
                .distrust_before,
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
            label: 2,
            unusable_until: [5, UNTIL_BACK, 0],
        };
        assert_eq!(State::decode(state.encode().as_bytes()), state);
        assert_eq!(State::decode(b"nonsense"), State::default());
        // The state before labels, and a label that does not exist.
        assert_eq!(State::decode(b"1 2 1 3 4"), State::default());
        assert_eq!(State::decode(b"1 2 1 3 4 3 0 0 0"), State::default());
    }

    #[test]
    fn a_label_that_failed_is_set_aside_and_the_breaker_closes_on_the_next() {
        let open = closed_at(T).failed(T + 5, Via::Label(0));
        assert_eq!(open.unusable_until[0], UNTIL_BACK);
        // A probe over its own connection finds the cache back 4 s later:
        // label 0 may be waiting out its reconnect, so cache_b is used.
        let probing = open.decide(T + 4_000).1.unwrap();
        let back = probing.answered(T + 4_001, true, Via::Probe);
        assert!(!back.is_open());
        assert_eq!(back.label, 1);
        assert_eq!(back.unusable_until, [T + 4_001 + RECOVERY_MS, 0, 0]);
        assert_eq!(back.decide(T + 4_002).0, Decision::Use);

        // It fails again at once: cache_c. Again: none is usable until
        // label 0's reconnect has surely happened, so it stays open.
        let again = back.failed(T + 5_000, Via::Label(1));
        let third = again.answered(T + 6_000, true, Via::Probe);
        assert_eq!((third.is_open(), third.label), (false, 2));
        let fourth = third
            .failed(T + 7_000, Via::Label(2))
            .answered(T + 8_000, true, Via::Probe);
        assert!(fourth.is_open(), "no label is usable yet");
        let later = fourth.answered(T + 4_001 + RECOVERY_MS, true, Via::Probe);
        assert_eq!((later.is_open(), later.label), (false, 0));
        assert_eq!(later.distrust_before, T + 4_001 + RECOVERY_MS);
    }

    #[test]
    fn a_hung_probe_sets_its_label_aside_and_a_late_answer_through_it_clears_it() {
        let probing = closed_at(T).decide(T + FRESH_MS).1.unwrap();
        let open = probing.decide(T + FRESH_MS + HUNG_MS).1.unwrap();
        assert!(open.is_open());
        assert_eq!(open.unusable_until[0], UNTIL_BACK);
        // The hung Redis resumes and the call through label 0 completes:
        // its connection works, and the breaker closes on it.
        let resumed = open.answered(T + 9_000, true, Via::Label(0));
        assert_eq!((resumed.is_open(), resumed.label), (false, 0));
        assert_eq!(resumed.unusable_until, [0, 0, 0]);
        assert_eq!(resumed.distrust_before, T + 9_000);
    }

    #[test]
    fn a_replica_that_never_reached_the_cache_probes_after_responses_until_one_answers() {
        let (decision, written) = State::default().decide(T);
        assert_eq!(decision, Decision::Skip { probe_after: true });
        let probing = written.unwrap();
        assert_eq!(
            probing.decide(T + RETRY_MS * 2),
            (Decision::Skip { probe_after: false }, None),
            "one probe at a time"
        );
        let down = probing.failed(T + 10, Via::Probe);
        assert!(down.is_open());
        let up = State::default().answered(T + 10, true, Via::Probe);
        assert_eq!((up.is_open(), up.ok_at, up.label), (false, T + 10, 0));
        assert_eq!(up.distrust_before, 0, "a new replica trusts the cache");
    }

    #[test]
    fn a_call_through_a_label_no_longer_in_use_changes_nothing_but_that_label() {
        let state = State {
            label: 1,
            unusable_until: [T + RECOVERY_MS, 0, 0],
            ..closed_at(T)
        };
        let late = state.answered(T + 50, false, Via::Label(0));
        assert_eq!(late.label, 1);
        assert_eq!(late.ok_at, T);
        assert_eq!(late.unusable_until, [0, 0, 0]);
    }

    #[test]
    fn a_failure_recorded_from_a_stale_state_leaves_no_probe_out() {
        // A probe was announced; under load another request read that
        // state, and its call failed too: whichever writes last, the
        // breaker is open with no probe out, and the next probe comes within
        // a second, not after GIVE_UP_MS.
        let announced = closed_at(T).decide(T + FRESH_MS).1.unwrap();
        let open = announced.failed(T + FRESH_MS + 5, Via::Label(0));
        assert!(open.is_open() && !open.probing);
        let (decision, _) = open.decide(T + FRESH_MS + 5 + RETRY_MS);
        assert_eq!(decision, Decision::Skip { probe_after: true });
    }

    #[test]
    fn a_probe_of_its_own_neither_vouches_for_the_label_nor_spares_it() {
        // Closed, past the fresh window: health's probe (its own connection)
        // answers. That clears its lease but says nothing of label 0, which
        // requests that met a fault may have left waiting to reconnect.
        let announced = State {
            probing: true,
            probe_at: T + 200,
            ..closed_at(T)
        };
        let after = announced.answered(T + 210, true, Via::Probe);
        assert!(!after.probing);
        assert_eq!(after.ok_at, T, "not refreshed by a probe of its own");
        assert_eq!(after.decide(T + 220).0, Decision::Probe);

        // It fails instead: the breaker opens and label 0 is set aside, so
        // that the cache is used again through another label.
        let open = announced.failed(T + 210, Via::Probe);
        assert_eq!(open.unusable_until[0], UNTIL_BACK);
        let back = open.answered(T + 3_000, true, Via::Probe);
        assert_eq!((back.is_open(), back.label), (false, 1));
    }
}
