//! GET /api/audit — audit events, newest first, filtered by objectType,
//! objectId, actor, action, from, to. Administrators only.

use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    kit::run(req, "audit-list", |ctx| {
        kit::auth::authenticate_admin(ctx)?;
        kit::audit::list(ctx)
    })
    .await
}
