//! The native admin tasks of spintemp, callable from the `spintemp-admin`
//! binary and from other crates' tests: database migrations, the Ed25519 key
//! pair that signs and verifies tokens (and the token memo's key), users,
//! the demo data, and locally minted tokens for existing users.

pub mod keys;
pub mod migrate;
pub mod outbox;
pub mod roles;
pub mod seed;
pub mod token;
pub mod users;
