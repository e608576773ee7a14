//! The spintemp domain: what a valid customer (product, promotion, …) is, how a
//! list query reads, what a token says. Everything here is pure and tested
//! natively; the Spin components only move bytes between HTTP, this crate and
//! Postgres.

pub mod audit;
pub mod claims;
pub mod customer;
pub mod entity;
pub mod fields;
pub mod list;
pub mod password;
pub mod product;
pub mod promotion;
pub mod request_id;
pub mod schema;
pub mod text;
pub mod user;
pub mod validity;
pub mod write;

pub use fields::FieldError;
