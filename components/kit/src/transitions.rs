//! `POST /api/promotions/:id/transitions`: the promotion workflow's one way
//! to change a status (domain::promotion::workflow holds its rules).
//!
//! The rules are checked against the promotion as Postgres holds it now,
//! and the update happens only if it still holds that status (and that
//! submitter): of two admins approving at once, one wins and the other gets
//! 412, never a second approval.

use crate::auth::Caller;
use crate::crud;
use crate::error::ApiError;
use crate::request::Ctx;
use crate::response::Reply;
use domain::entity::SqlValue;
use domain::promotion::workflow::{self, Refusal, Transition};
use domain::promotion::PROMOTION;
use uuid::Uuid;

pub fn transition(ctx: &Ctx, caller: &Caller) -> Result<Reply, ApiError> {
    // A decision names the version it was taken on; on any other version
    // it is stale (412) before it is anything else, so that the losers of a
    // race hear the same thing whenever they lost it.
    let Some(version) = ctx.if_match() else {
        return Err(ApiError::PreconditionRequired);
    };
    let transition = Transition::parse(&ctx.json_body()?)?;
    let promotion = crud::current(&PROMOTION, ctx.id_param()?)?;
    if promotion["version"].as_i64() != Some(version) {
        return Err(ApiError::PreconditionFailed);
    }
    let from = promotion["approvalStatus"]
        .as_str()
        .ok_or_else(|| ApiError::Internal("a promotion without a status".to_owned()))?
        .to_owned();
    let submitted_by = promotion["submittedBy"]
        .as_str()
        .and_then(|id| Uuid::try_parse(id).ok());
    workflow::check(&from, transition.to, caller.id, caller.admin, submitted_by).map_err(
        |refusal| match refusal {
            Refusal::NotAllowed(why) => ApiError::Conflict(why),
            Refusal::Forbidden(why) => ApiError::Forbidden(why),
        },
    )?;
    let mut expected = vec![("approval_status", SqlValue::Text(from.clone()))];
    if let Some(submitter) = submitted_by {
        expected.push(("submitted_by", SqlValue::Uuid(submitter)));
    }
    let columns = workflow::columns(&from, &transition, caller.id);
    crud::update_if(ctx, &PROMOTION, caller, columns, expected, None)
}
