//! The glue every spintemp function shares. A component is a few lines: it
//! names its operation and hands the request to `kit::run` with a handler
//! built from these modules.
//!
//! - [`run`], [`run_front`]: request id, body limits, 404/405 by the route
//!   table ([`routes`]), problem+json for every error; `run_front` also hands
//!   the path's other methods on to their components.
//! - [`log`]: the function's log lines ([`log_line!`]), each one write.
//! - [`auth`]: the bearer-token guard (public key only; cannot mint tokens).
//! - [`db`], [`cache`]: Postgres and Redis through Spin's host APIs.
//! - [`crud`]: list/get/create/update/delete for any [`domain::entity::Entity`],
//!   each write one SQL statement that also records its audit event.
//! - [`users`], [`login`]: the rules of users and of the auth flows;
//!   [`sessions`] (tokens issued and rotated), [`throttle`] (failed logins).

pub mod audit;
pub mod auth;
pub mod body;
pub mod cache;
pub mod config;
pub mod crud;
pub mod db;
pub mod error;
mod forward;
pub mod log;
pub mod login;
pub mod replica;
pub mod request;
pub mod resource;
pub mod response;
pub mod routes;
pub mod sessions;
pub mod throttle;
pub mod transitions;
pub mod users;

pub use error::ApiError;
pub use request::{run, run_front, run_unrouted, Ctx};
pub use response::Reply;

/// The clock every default (validFrom = now) is taken from.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}
