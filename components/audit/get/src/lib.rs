//! GET /api/audit/:id — one audit event. Administrators only.

use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    kit::run(req, "audit-get", |ctx| {
        kit::auth::authenticate_admin(ctx)?;
        kit::audit::get(ctx)
    })
    .await
}
