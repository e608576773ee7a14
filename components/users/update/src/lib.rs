//! PUT /api/users/:id — change a user, honouring If-Match; a new password of
//! your own needs the current one.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "users-update", kit::users::update).await
}
