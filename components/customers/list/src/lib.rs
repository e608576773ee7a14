//! GET /api/customers — a page of customers. It serves the path, so it hands
//! POST on to customers-create.

use domain::customer::CUSTOMER;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run_front(req, out, "customers-list", |ctx| {
        kit::resource::list(ctx, &CUSTOMER)
    })
    .await
}
