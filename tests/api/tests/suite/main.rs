//! The HTTP API end to end: spin.toml, the built components, the wasmtime
//! test host, real Postgres and Redis. One test binary, so the components are
//! built and compiled once.

mod audit;
mod audit_store;
mod auth;
mod browser;
mod cache_faults;
mod customers;
mod database_faults;
mod failures;
mod hostile;
mod listing;
mod privileges;
mod products;
mod promotions;
mod roles;
mod sessions;
mod trail;
mod users;
mod web;
