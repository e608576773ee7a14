//! GET /api/products/:id — one product, with its ETag, from the cache when
//! it is there. It serves the path, so it hands PUT and DELETE on to
//! products-update and products-delete.

use domain::product::PRODUCT;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run_front(req, out, "products-get", |ctx| {
        kit::resource::get(ctx, &PRODUCT)
    })
    .await
}
