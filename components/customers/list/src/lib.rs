//! GET /api/customers — a page of customers. It serves the path, so it hands
//! POST on to customers-create.

use domain::customer::CUSTOMER;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    kit::run_front(req, "customers-list", |ctx| {
        kit::auth::authenticate(ctx)?;
        kit::crud::list(ctx, &CUSTOMER)
    })
    .await
}
