//! POST /api/promotions/:id/transitions — move a promotion along its
//! workflow (draft → submitted → approved or rejected; rejected → draft),
//! four eyes on every decision. Needs If-Match.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "promotions-transition", |ctx| {
        let caller = kit::auth::authenticate(ctx)?;
        kit::transitions::transition(ctx, &caller)
    })
    .await
}
