//! GET /api/promotions — a page of promotions. It serves the path, so it hands
//! POST on to promotions-create.

use domain::promotion::PROMOTION;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run_front(req, out, "promotions-list", |ctx| {
        kit::resource::list(ctx, &PROMOTION)
    })
    .await
}
