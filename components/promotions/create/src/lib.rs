//! POST /api/promotions — create a promotion (201 + Location), recording its
//! audit event in the same statement.

use domain::promotion::PROMOTION;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "promotions-create", |ctx| {
        kit::resource::create(ctx, &PROMOTION)
    })
    .await
}
