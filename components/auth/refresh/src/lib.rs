//! POST /api/auth/refresh — a refresh token (body or cookie) for a new pair.
//! The other function that holds the signing key.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "auth-refresh", kit::login::refresh).await
}
