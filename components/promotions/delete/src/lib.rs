//! DELETE /api/promotions/:id — delete a promotion, honouring If-Match.

use domain::promotion::PROMOTION;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "promotions-delete", |ctx| {
        kit::resource::delete(ctx, &PROMOTION)
    })
    .await
}
