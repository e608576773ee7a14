//! The native admin tasks of spintemp, callable from the `spintemp-admin`
//! binary and from other crates' tests: database migrations, the Ed25519 key
//! pair that signs and verifies tokens, and locally minted tokens.

pub mod keys;
pub mod migrate;
pub mod token;
