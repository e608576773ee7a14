//! GET /api/promotions/:id — one promotion, with its ETag, from the cache when
//! it is there. It serves the path, so it hands PUT and DELETE on to
//! promotions-update and promotions-delete.

use domain::promotion::PROMOTION;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run_front(req, out, "promotions-get", |ctx| {
        kit::resource::get(ctx, &PROMOTION)
    })
    .await
}
