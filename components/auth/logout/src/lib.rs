//! POST /api/auth/logout — ends the session of a refresh token (body or
//! cookie) and clears the cookie.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "auth-logout", kit::login::logout).await
}
