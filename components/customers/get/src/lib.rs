//! GET /api/customers/:id — one customer, with its ETag, from the cache when
//! it is there.

use domain::customer::CUSTOMER;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    kit::run(req, "customers-get", |ctx| {
        kit::auth::authenticate(ctx)?;
        kit::crud::get(ctx, &CUSTOMER)
    })
    .await
}
