//! Prometheus metrics, on a registry of their own so that several relays can
//! live in one process (tests, the benchmark).

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Where a failure happened; the `stage` label of `audit_relay_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Migrate,
    Policies,
    Stream,
    Claim,
    Publish,
    Store,
    Commit,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::Migrate,
        Stage::Policies,
        Stage::Stream,
        Stage::Claim,
        Stage::Publish,
        Stage::Store,
        Stage::Commit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Migrate => "migrate",
            Stage::Policies => "policies",
            Stage::Stream => "stream",
            Stage::Claim => "claim",
            Stage::Publish => "publish",
            Stage::Store => "store",
            Stage::Commit => "commit",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub relayed: IntCounter,
    pub stored: IntCounter,
    pub batches: IntCounter,
    failures: IntCounterVec,
    pub outbox_depth: IntGauge,
    pub oldest_pending_age: Gauge,
    pub batch_duration: Histogram,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let relayed = IntCounter::new(
            "audit_relay_events_relayed_total",
            "Audit events published, stored and removed from the outbox.",
        )
        .expect("valid metric");
        let stored = IntCounter::new(
            "audit_relay_events_stored_total",
            "Audit events new to the audit store (replays excluded).",
        )
        .expect("valid metric");
        let batches =
            IntCounter::new("audit_relay_batches_total", "Batches relayed.").expect("valid metric");
        let failures = IntCounterVec::new(
            Opts::new("audit_relay_failures_total", "Failed attempts, by stage."),
            &["stage"],
        )
        .expect("valid metric");
        let outbox_depth = IntGauge::new(
            "audit_relay_outbox_depth",
            "Rows waiting in audit_outbox, measured at scrape time.",
        )
        .expect("valid metric");
        let oldest_pending_age = Gauge::new(
            "audit_relay_oldest_pending_age_seconds",
            "Age of the oldest row waiting in audit_outbox, measured at scrape time.",
        )
        .expect("valid metric");
        let batch_duration = Histogram::with_opts(
            HistogramOpts::new(
                "audit_relay_batch_duration_seconds",
                "Time from claiming a batch to committing its removal from the outbox.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
        )
        .expect("valid metric");
        for stage in Stage::ALL {
            // Zero-valued series exist from the start, so rate() and alerts
            // work before the first failure.
            failures.with_label_values(&[stage.as_str()]);
        }
        for collector in [
            Box::new(relayed.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(stored.clone()),
            Box::new(batches.clone()),
            Box::new(failures.clone()),
            Box::new(outbox_depth.clone()),
            Box::new(oldest_pending_age.clone()),
            Box::new(batch_duration.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Metrics {
            registry,
            relayed,
            stored,
            batches,
            failures,
            outbox_depth,
            oldest_pending_age,
            batch_duration,
        }
    }

    pub fn failed(&self, stage: Stage) {
        self.failures.with_label_values(&[stage.as_str()]).inc();
    }

    pub fn failures(&self, stage: Stage) -> u64 {
        self.failures.with_label_values(&[stage.as_str()]).get()
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding cannot fail on valid metrics");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_is_exported_before_any_failure() {
        let metrics = Metrics::new();
        metrics.failed(Stage::Publish);
        let text = metrics.render();
        assert!(
            text.contains("audit_relay_failures_total{stage=\"publish\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("audit_relay_failures_total{stage=\"store\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("audit_relay_batch_duration_seconds_bucket"),
            "{text}"
        );
    }
}
