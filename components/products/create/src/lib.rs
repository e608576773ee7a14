//! POST /api/products — create a product (201 + Location), recording its
//! audit event in the same statement.

use domain::product::PRODUCT;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "products-create", |ctx| {
        kit::resource::create(ctx, &PRODUCT)
    })
    .await
}
