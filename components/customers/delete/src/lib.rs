//! DELETE /api/customers/:id — delete a customer, honouring If-Match.

use domain::customer::CUSTOMER;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "customers-delete", |ctx| {
        kit::resource::delete(ctx, &CUSTOMER)
    })
    .await
}
