//! Spin variables a function reads. Each component declares only the ones it
//! needs in spin.toml; asking for another fails, by design.

use crate::error::ApiError;
use spin_sdk::variables;

/// A variable the function cannot work without. Its absence is a deployment
/// mistake: logged with the name, answered as a 500 without it.
pub fn required(name: &str) -> Result<String, ApiError> {
    variables::get(name).map_err(|e| ApiError::Internal(format!("variable {name}: {e}")))
}

/// A variable with a sensible fallback when unset or unparsable.
pub fn number_or(name: &str, fallback: u64) -> u64 {
    variables::get(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(fallback)
}
