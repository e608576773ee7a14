//! Command line and environment configuration.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{CommandFactory, Parser, ValueEnum};

use crate::policy::PolicyAge;

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

    /// Longest wait between two looks at an idle outbox. After work the
    /// relay looks again after --poll-min-interval and doubles the wait on
    /// each empty look, up to this.
    #[arg(long, env = "AUDIT_RELAY_POLL_INTERVAL", default_value = "250ms", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,

    /// First wait after a batch that was not full (a full one is followed by
    /// the next claim at once).
    #[arg(long, env = "AUDIT_RELAY_POLL_MIN_INTERVAL", default_value = "10ms", value_parser = humantime::parse_duration)]
    pub poll_min_interval: Duration,

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

    /// TimescaleDB only: drop audit chunks older than this, a whole number
    /// and a unit ("400 days", "13 months", "2 years"). Unset removes the
    /// policy.
    #[arg(long, env = "AUDIT_RELAY_RETENTION", value_name = "AGE", value_parser = parse_age,
          allow_negative_numbers = true)]
    pub retention: Option<PolicyAge>,

    /// TimescaleDB only: compress audit chunks older than this ("7 days").
    /// Unset removes the policy.
    #[arg(long, env = "AUDIT_RELAY_COMPRESS_AFTER", value_name = "AGE", value_parser = parse_age,
          allow_negative_numbers = true)]
    pub compress_after: Option<PolicyAge>,

    /// Accept --retention or --compress-after under a day (hours, minutes,
    /// seconds). Without it they are refused: a short retention deletes
    /// nearly all history the moment it is applied.
    #[arg(long, env = "AUDIT_RELAY_ALLOW_SHORT_POLICIES")]
    pub allow_short_policies: bool,

    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

fn parse_age(text: &str) -> Result<PolicyAge, String> {
    text.parse()
}

impl Config {
    /// Parses the command line and environment and checks what one flag's
    /// parser cannot see; on any error prints it, naming the flag, and exits
    /// with status 2 before anything is connected to.
    pub fn parse_checked() -> Config {
        let config = Config::parse();
        if let Err(message) = config.validate() {
            Config::command()
                .error(clap::error::ErrorKind::ValueValidation, message)
                .exit();
        }
        config
    }

    /// The checks across flags. A bad setting is a reason not to start: it
    /// would not get better by retrying.
    pub fn validate(&self) -> Result<(), String> {
        if !self.allow_short_policies {
            for (flag, age) in [
                ("--retention", self.retention),
                ("--compress-after", self.compress_after),
            ] {
                if let Some(age) = age.filter(|age| age.is_under_a_day()) {
                    let why = if flag == "--retention" {
                        "it drops nearly all audit history the moment it is applied"
                    } else {
                        "it compresses chunks that are still being written to"
                    };
                    return Err(format!(
                        "{flag} {age} is under a day ({why}); pass --allow-short-policies if that is meant"
                    ));
                }
            }
        }
        if self.poll_interval.is_zero() || self.poll_min_interval.is_zero() {
            return Err("--poll-interval and --poll-min-interval must be more than zero".into());
        }
        if self.poll_min_interval > self.poll_interval {
            return Err(format!(
                "--poll-min-interval ({:?}) is longer than --poll-interval ({:?})",
                self.poll_min_interval, self.poll_interval
            ));
        }
        Ok(())
    }

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

    fn parse(args: &[&str]) -> Result<Config, String> {
        let base = ["audit-relay", "--database-url", "postgres://app"];
        let config =
            Config::try_parse_from(base.iter().chain(args)).map_err(|error| error.to_string())?;
        config.validate()?;
        Ok(config)
    }

    #[test]
    fn policy_ages_need_a_unit_and_name_their_flag_when_refused() {
        let config = parse(&["--retention", "400 days", "--compress-after", "1 week"]).unwrap();
        assert_eq!(config.retention, Some(PolicyAge::Days(400)));
        assert_eq!(config.compress_after, Some(PolicyAge::Days(7)));
        for (args, flag, reason) in [
            (["--retention", "400"], "--retention", "no unit"),
            (["--retention", "400 dayz"], "--retention", "unknown unit"),
            (["--compress-after", "-1"], "--compress-after", ""),
            (
                ["--compress-after", "0 days"],
                "--compress-after",
                "more than zero",
            ),
            (["--retention", "12h"], "--retention", "under a day"),
            (
                ["--compress-after", "3 hours"],
                "--compress-after",
                "under a day",
            ),
        ] {
            let error = parse(&args).unwrap_err();
            assert!(
                error.contains(flag) && error.contains(reason),
                "{args:?}: {error}"
            );
        }
    }

    #[test]
    fn short_policies_need_the_explicit_opt_in() {
        let config = parse(&["--retention", "12h", "--allow-short-policies"]).unwrap();
        assert_eq!(config.retention, Some(PolicyAge::Seconds(43_200)));
        assert!(parse(&["--compress-after", "1 day"]).is_ok());
    }

    #[test]
    fn polling_bounds_are_checked() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.poll_interval, Duration::from_millis(250));
        assert_eq!(config.poll_min_interval, Duration::from_millis(10));
        let error = parse(&["--poll-min-interval", "1s", "--poll-interval", "500ms"]).unwrap_err();
        assert!(error.contains("--poll-min-interval"), "{error}");
        assert!(parse(&["--poll-interval", "0s"]).is_err());
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
