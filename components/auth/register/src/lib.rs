//! POST /api/auth/register — a new active, non-admin user, valid for a year;
//! limited per client address. The user is the actor of its own audit event.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "auth-register", kit::users::register).await
}
