//! The token check exactly as the app's functions run it: variables read
//! from Spin, the bearer token verified, 204 if it is good.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run_unrouted(req, out, "bench-token-check", |ctx| {
        kit::auth::authenticate(ctx)?;
        Ok(kit::Reply::no_content())
    })
    .await
}
