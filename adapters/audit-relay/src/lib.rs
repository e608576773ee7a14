//! audit-relay: drains the transactional audit outbox of the app database
//! into NATS JetStream and the audit store (TimescaleDB or plain Postgres).
//!
//! The binary is `audit-relay`; tests and the benchmark drive the same code
//! through [`start`] / [`run`].

pub mod backoff;
pub mod config;
pub mod event;
mod health;
mod http;
pub mod metrics;
pub mod outbox;
pub mod policy;
pub mod publisher;
mod relay;
pub mod store;

pub use config::{Config, LogFormat};
pub use metrics::Metrics;
pub use policy::PolicyAge;
pub use relay::{run, start, Running};
