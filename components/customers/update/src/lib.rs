//! PUT /api/customers/:id — replace a customer's writable fields, honouring
//! If-Match.

use domain::customer::{CustomerDraft, CUSTOMER};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "customers-update", |ctx| {
        let caller = kit::auth::authenticate(ctx)?;
        let draft = CustomerDraft::parse(&ctx.json_body()?, kit::now())?;
        kit::crud::update(ctx, &CUSTOMER, &caller, draft.columns())
    })
    .await
}
