//! POST /api/customers — create a customer (201 + Location), recording its
//! audit event in the same statement.

use domain::customer::CUSTOMER;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "customers-create", |ctx| {
        kit::resource::create(ctx, &CUSTOMER)
    })
    .await
}
