//! POST /api/customers — create a customer (201 + Location), recording its
//! audit event in the same statement.

use domain::customer::{CustomerDraft, CUSTOMER};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "customers-create", |ctx| {
        let caller = kit::auth::authenticate(ctx)?;
        let draft = CustomerDraft::parse(&ctx.json_body()?, kit::now())?;
        kit::crud::create(
            ctx,
            &CUSTOMER,
            kit::crud::Actor::Token(&caller),
            draft.columns(),
        )
    })
    .await
}
