//! GET /api/audit — audit events, newest first, filtered by objectType,
//! objectId, actor, action, from, to. Administrators only.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "audit-list", |ctx| {
        kit::auth::authenticate_admin(ctx)?;
        kit::audit::list(ctx)
    })
    .await
}
