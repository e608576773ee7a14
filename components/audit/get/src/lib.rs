//! GET /api/audit/:id — one audit event. Administrators only.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "audit-get", |ctx| {
        kit::auth::authenticate_admin(ctx)?;
        kit::audit::get(ctx)
    })
    .await
}
