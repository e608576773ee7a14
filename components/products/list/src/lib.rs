//! GET /api/products — a page of products. It serves the path, so it hands
//! POST on to products-create.

use domain::product::PRODUCT;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run_front(req, out, "products-list", |ctx| {
        kit::resource::list(ctx, &PRODUCT)
    })
    .await
}
