//! PUT /api/products/:id — replace a product's writable fields, honouring
//! If-Match.

use domain::product::PRODUCT;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "products-update", |ctx| {
        kit::resource::replace(ctx, &PRODUCT)
    })
    .await
}
