//! The hello floor handed on once by local service chaining: what a request
//! pays for reaching a second component, as every write does (its path's
//! GET component hands it on). Like the app's front doors, it holds no grant
//! but the hop.

use spin_sdk::http::{IncomingRequest, Request, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(_req: IncomingRequest) -> Response {
    let hello = Request::get("http://hello.spin.internal/hello").build();
    match spin_sdk::http::send::<_, Response>(hello).await {
        Ok(res) => Response::new(*res.status(), res.into_body()),
        Err(e) => Response::new(502, e.to_string()),
    }
}
