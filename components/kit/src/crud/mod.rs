//! List, get, create, update and delete for any entity. Each write is **one**
//! SQL statement (data-modifying CTEs) that changes the row and inserts its
//! audit event into `audit_outbox`, so the change and its event commit or fail
//! together. Reads of single records go through the cache.
//!
//! Every write also checks, in the same statement, that its actor may still
//! write (see [`Actor`]): no extra round trip, and no window between the
//! check and the change.

mod read;
mod write;

pub use read::{current, get, get_by_id, list};
pub use write::{create, delete, update, update_if, Actor};

use crate::error::ApiError;
use crate::response::Reply;

/// A record body with its `ETag`.
pub(crate) fn record(status: u16, body: Vec<u8>) -> Result<Reply, ApiError> {
    let version = version_of(&body)
        .ok_or_else(|| ApiError::Internal("record without a version".to_owned()))?;
    Ok(Reply::json_bytes(status, body).with_header("etag", format!("\"{version}\"")))
}

/// The `version` of a record body. Only the version is read: every other
/// field is skipped, not built into a JSON tree, on the warm read's path.
fn version_of(body: &[u8]) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Versioned {
        version: i64,
    }
    serde_json::from_slice::<Versioned>(body)
        .ok()
        .map(|record| record.version)
}
