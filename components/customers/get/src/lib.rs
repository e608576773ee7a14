//! GET /api/customers/:id — one customer, with its ETag, from the cache when
//! it is there. It serves the path, so it hands PUT and DELETE on to
//! customers-update and customers-delete.

use domain::customer::CUSTOMER;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run_front(req, out, "customers-get", |ctx| {
        kit::resource::get(ctx, &CUSTOMER)
    })
    .await
}
