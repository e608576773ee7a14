//! DELETE /api/users/:id — delete an inactive user, honouring If-Match.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "users-delete", kit::users::delete).await
}
