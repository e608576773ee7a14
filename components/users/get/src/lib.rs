//! GET /api/users/:id — a user (yourself, or anyone for an administrator).
//! It serves the path, so it hands PUT and DELETE on to users-update and
//! users-delete.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run_front(req, out, "users-get", kit::users::get).await
}
