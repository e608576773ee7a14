//! kit::run around nothing, so that `check` minus this is the token check
//! alone (kit's request handling is in both).

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run_unrouted(req, out, "bench-kit-hello", |_| Ok(kit::Reply::no_content())).await
}
