//! The baseline: Spin's per-request cost with nothing to do.

use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(_req: IncomingRequest) -> Response {
    Response::new(200, "hello")
}
