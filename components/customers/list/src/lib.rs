//! GET /api/customers — a page of customers.

use domain::customer::CUSTOMER;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    kit::run(req, "customers-list", |ctx| {
        kit::auth::authenticate(ctx)?;
        kit::crud::list(ctx, &CUSTOMER)
    })
    .await
}
