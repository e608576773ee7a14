//! The four-eyes workflow: what may follow a status, and who may move it.

use super::APPROVAL_STATUSES;
use crate::entity::SqlValue;
use crate::fields::{FieldError, Fields};
use serde_json::Value;
use uuid::Uuid;

/// `POST /api/promotions/:id/transitions`.
#[derive(Debug, PartialEq)]
pub struct Transition {
    pub to: &'static str,
    pub comment: Option<String>,
}

impl Transition {
    pub fn parse(body: &Value) -> Result<Transition, Vec<FieldError>> {
        let mut f = Fields::new(body)?;
        let to = match f.value("to") {
            Some(Value::String(s)) => APPROVAL_STATUSES.iter().copied().find(|w| *w == s),
            _ => None,
        };
        if to.is_none() {
            f.error(
                "to",
                format!("must be one of: {}", APPROVAL_STATUSES.join(", ")),
            );
        }
        let comment = f.optional_text("comment", 500);
        let comment_ok = !f.has_error("comment");
        f.finish(|| {
            comment_ok.then_some(())?;
            Some(Transition { to: to?, comment })
        })
    }
}

/// The statuses `from` may move to.
pub fn next(from: &str) -> &'static [&'static str] {
    match from {
        "draft" => &["submitted"],
        "submitted" => &["approved", "rejected"],
        "rejected" => &["draft"],
        _ => &[],
    }
}

#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// 409: not a transition the workflow has.
    NotAllowed(String),
    /// 403: a decision needs an administrator other than the submitter.
    Forbidden(&'static str),
}

/// Whether `actor` may move a promotion from `from` to `to`.
pub fn check(
    from: &str,
    to: &str,
    actor: Uuid,
    actor_is_admin: bool,
    submitted_by: Option<Uuid>,
) -> Result<(), Refusal> {
    let allowed = next(from);
    if !allowed.contains(&to) {
        let then = if allowed.is_empty() {
            "none: it is final".to_owned()
        } else {
            allowed.join(" or ")
        };
        return Err(Refusal::NotAllowed(format!(
            "a {from} promotion cannot become {to}; it may become {then}"
        )));
    }
    if from == "submitted" {
        if !actor_is_admin {
            return Err(Refusal::Forbidden(
                "only an administrator may approve or reject a promotion",
            ));
        }
        if submitted_by == Some(actor) {
            return Err(Refusal::Forbidden(
                "four eyes: the user who submitted a promotion may not approve or reject it",
            ));
        }
    }
    Ok(())
}

/// The columns a transition writes: the status, the one before, the
/// comment, and who submitted or decided.
pub fn columns(from: &str, transition: &Transition, actor: Uuid) -> Vec<(&'static str, SqlValue)> {
    let mut columns = vec![
        ("approval_status", SqlValue::Text(transition.to.to_owned())),
        ("prev_approval_status", SqlValue::Text(from.to_owned())),
        (
            "approval_comment",
            SqlValue::OptionalText(transition.comment.clone()),
        ),
    ];
    match transition.to {
        "submitted" => {
            columns.push(("submitted_by", SqlValue::OptionalUuid(Some(actor))));
            columns.push(("decided_by", SqlValue::OptionalUuid(None)));
        }
        "approved" | "rejected" => {
            columns.push(("decided_by", SqlValue::OptionalUuid(Some(actor))))
        }
        _ => {}
    }
    columns
}
