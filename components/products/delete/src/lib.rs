//! DELETE /api/products/:id — delete a product, honouring If-Match.

use domain::product::PRODUCT;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "products-delete", |ctx| {
        kit::resource::delete(ctx, &PRODUCT)
    })
    .await
}
