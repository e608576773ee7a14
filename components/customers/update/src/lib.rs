//! PUT /api/customers/:id — replace a customer's writable fields, honouring
//! If-Match.

use domain::customer::CUSTOMER;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "customers-update", |ctx| {
        kit::resource::replace(ctx, &CUSTOMER)
    })
    .await
}
