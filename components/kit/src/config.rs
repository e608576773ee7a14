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

/// A whole number above zero, for a variable with a default in spin.toml.
/// Anything else is the operator's mistake, named in the log (500).
pub fn positive_number(name: &str) -> Result<i64, ApiError> {
    let value = required(name)?;
    match value.trim().parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ApiError::Internal(format!(
            "variable {name} is {value:?}: it must be a whole number above 0"
        ))),
    }
}
