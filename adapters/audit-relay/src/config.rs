//! Command line and environment configuration.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Moves audit events from the app database's outbox into NATS JetStream and
/// the audit store.
#[derive(Debug, Clone, Parser)]
#[command(name = "audit-relay", version, about)]
pub struct Config {
    /// The app database holding `audit_outbox`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,

    /// The audit store (TimescaleDB or plain Postgres); defaults to the app
    /// database.
    #[arg(long, env = "AUDIT_DATABASE_URL", hide_env_values = true)]
    pub audit_database_url: Option<String>,

    /// NATS server(s), comma separated.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,

    /// A NATS credentials (.creds) file, for servers that require one.
    #[arg(long, env = "NATS_CREDS")]
    pub nats_creds: Option<std::path::PathBuf>,

    /// The JetStream stream; created if missing.
    #[arg(long, env = "AUDIT_RELAY_STREAM", default_value = "AUDIT")]
    pub stream: String,

    /// Events go to `<prefix>.<objectType>.<action>`.
    #[arg(long, env = "AUDIT_RELAY_SUBJECT_PREFIX", default_value = "audit")]
    pub subject_prefix: String,

    /// Subjects of a stream this relay creates; default `<prefix>.>`.
    #[arg(long, env = "AUDIT_RELAY_STREAM_SUBJECTS", value_delimiter = ',')]
    pub stream_subjects: Vec<String>,

    /// How long JetStream remembers message ids to drop replays; a batch
    /// retried after a longer outage than this can be stored twice in the stream.
    #[arg(long, env = "AUDIT_RELAY_DUPLICATE_WINDOW", default_value = "10m", value_parser = humantime::parse_duration)]
    pub duplicate_window: Duration,

    /// Replicas of a stream this relay creates (clustered NATS).
    #[arg(long, env = "AUDIT_RELAY_STREAM_REPLICAS", default_value_t = 1)]
    pub stream_replicas: usize,

    /// Outbox rows claimed per batch.
    #[arg(long, env = "AUDIT_RELAY_BATCH_SIZE", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=50_000))]
    pub batch_size: u32,

    /// Batches relayed at once by this process. One keeps each object's
    /// events in order in the stream too; the store is ordered by occurredAt
    /// either way.
    #[arg(long, env = "AUDIT_RELAY_WORKERS", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: u16,

    /// Look at the outbox this often even without a notification.
    #[arg(long, env = "AUDIT_RELAY_POLL_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,

    /// Longest wait for one step of a batch (claim, publish acks, store
    /// insert, commit) before the batch is released and retried.
    #[arg(long, env = "AUDIT_RELAY_STAGE_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub stage_timeout: Duration,

    /// First retry delay after a failure; doubles up to --max-backoff.
    #[arg(long, env = "AUDIT_RELAY_MIN_BACKOFF", default_value = "100ms", value_parser = humantime::parse_duration)]
    pub min_backoff: Duration,

    /// Longest retry delay after repeated failures.
    #[arg(long, env = "AUDIT_RELAY_MAX_BACKOFF", default_value = "30s", value_parser = humantime::parse_duration)]
    pub max_backoff: Duration,

    /// On SIGTERM/SIGINT, how long a batch in hand may take to finish before
    /// it is released (rolled back) instead.
    #[arg(long, env = "AUDIT_RELAY_SHUTDOWN_GRACE", default_value = "20s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// Address of the /metrics and /healthz server.
    #[arg(long, env = "AUDIT_RELAY_LISTEN", default_value = "0.0.0.0:9465")]
    pub listen: SocketAddr,

    /// TimescaleDB only: drop audit chunks older than this Postgres interval
    /// (e.g. "400 days"). Unset removes the policy.
    #[arg(long, env = "AUDIT_RELAY_RETENTION")]
    pub retention: Option<String>,

    /// TimescaleDB only: compress audit chunks older than this Postgres
    /// interval (e.g. "7 days"). Unset removes the policy.
    #[arg(long, env = "AUDIT_RELAY_COMPRESS_AFTER")]
    pub compress_after: Option<String>,

    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    pub fn audit_database_url(&self) -> &str {
        self.audit_database_url
            .as_deref()
            .unwrap_or(&self.database_url)
    }

    pub fn stream_subjects(&self) -> Vec<String> {
        if self.stream_subjects.is_empty() {
            vec![format!("{}.>", self.subject_prefix)]
        } else {
            self.stream_subjects.clone()
        }
    }

    /// A configuration for tests and benchmarks: everything at its default
    /// except what the caller sets afterwards.
    pub fn with_urls(database_url: &str, audit_database_url: &str, nats_url: &str) -> Config {
        Config::parse_from([
            "audit-relay",
            "--database-url",
            database_url,
            "--audit-database-url",
            audit_database_url,
            "--nats-url",
            nats_url,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_subjects_follow_the_prefix_unless_given() {
        let mut config = Config::with_urls("postgres://a", "postgres://b", "nats://c");
        config.subject_prefix = "audit_x".into();
        assert_eq!(config.stream_subjects(), vec!["audit_x.>".to_string()]);
        config.stream_subjects = vec!["a.>".into(), "b.>".into()];
        assert_eq!(config.stream_subjects(), vec!["a.>", "b.>"]);
    }

    #[test]
    fn audit_store_defaults_to_the_app_database() {
        let config = Config::parse_from(["audit-relay", "--database-url", "postgres://app"]);
        assert_eq!(config.audit_database_url(), "postgres://app");
        assert_eq!(config.batch_size, 1000);
        assert_eq!(config.duplicate_window, Duration::from_secs(600));
    }

    #[test]
    fn durations_parse_human_units() {
        let config = Config::parse_from([
            "audit-relay",
            "--database-url",
            "postgres://app",
            "--poll-interval",
            "250ms",
            "--max-backoff",
            "2m",
        ]);
        assert_eq!(config.poll_interval, Duration::from_millis(250));
        assert_eq!(config.max_backoff, Duration::from_secs(120));
    }
}
