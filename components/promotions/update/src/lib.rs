//! PUT /api/promotions/:id — replace a promotion's writable fields, honouring
//! If-Match.

use domain::promotion::PROMOTION;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "promotions-update", |ctx| {
        kit::resource::replace(ctx, &PROMOTION)
    })
    .await
}
