//! POST /api/auth/login — an access token and a refresh token for an email
//! and password. One of the two functions that hold the signing key.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "auth-login", kit::login::login).await
}
