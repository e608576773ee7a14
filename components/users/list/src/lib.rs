//! GET /api/users — a page of users (administrators only). The path has no
//! POST: users register.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "users-list", kit::users::list).await
}
