//! The rules of `/api/users` and of registering, over the generic CRUD path:
//! who may see and change whom, and what a password change needs.

use crate::auth::{self, Caller};
use crate::crud::{self, Actor};
use crate::db;
use crate::error::ApiError;
use crate::request::Ctx;
use crate::response::Reply;
use crate::throttle::{self, Limit, Throttle};
use domain::entity::SqlValue;
use domain::user::{Registration, UserChanges, USER};
use domain::{password, FieldError};
use spin_sdk::pg4::ParameterValue;
use uuid::Uuid;

/// `POST /api/auth/register`, limited per client address.
pub fn register(ctx: &Ctx) -> Result<Reply, ApiError> {
    let throttle = Throttle::open()?;
    let per_address = Limit::new(
        "register-address",
        &throttle::client_address(ctx),
        "registrations_per_address",
    )?;
    throttle.refuse_if_over(&[&per_address], "too many registrations from this address")?;
    throttle.count(&[&per_address]);
    let registration = Registration::parse(&ctx.json_body()?)?;
    let hash = hash_password(&registration.password)?;
    crud::create(
        ctx,
        &USER,
        Actor::Itself,
        registration.columns(hash, crate::now()),
    )
}

/// `GET /api/auth/me`.
pub fn me(ctx: &Ctx) -> Result<Reply, ApiError> {
    let caller = auth::authenticate(ctx)?;
    crud::get_by_id(&USER, caller.id)
}

/// `GET /api/users`: administrators only.
pub fn list(ctx: &Ctx) -> Result<Reply, ApiError> {
    auth::authenticate_admin(ctx)?;
    crud::list(ctx, &USER)
}

/// `GET /api/users/:id`: yourself, or anyone for an administrator.
pub fn get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let caller = auth::authenticate(ctx)?;
    self_or_admin(&caller, ctx.id_param()?)?;
    crud::get(ctx, &USER)
}

/// `DELETE /api/users/:id`: yourself, or anyone for an administrator. The
/// database refuses an active user and the last active administrator
/// (409, see the migrations).
pub fn delete(ctx: &Ctx) -> Result<Reply, ApiError> {
    let caller = auth::authenticate(ctx)?;
    self_or_admin(&caller, ctx.id_param()?)?;
    crud::delete(ctx, &USER, &caller)
}

/// `PUT /api/users/:id`.
pub fn update(ctx: &Ctx) -> Result<Reply, ApiError> {
    let caller = auth::authenticate(ctx)?;
    let id = ctx.id_param()?;
    self_or_admin(&caller, id)?;
    let changes = UserChanges::parse(&ctx.json_body()?, crate::now())?;
    if !caller.admin && changes.admin == Some(true) {
        return Err(ApiError::Forbidden(
            "only administrators may make a user an administrator",
        ));
    }
    let mut expected = Vec::new();
    let new_hash = match &changes.password {
        None => {
            if changes.current_password.is_some() {
                return Err(ApiError::Validation(vec![FieldError::new(
                    "currentPassword",
                    "is only used to change the password (give password too)",
                )]));
            }
            None
        }
        Some(new_password) => {
            // Your own password: prove you know the current one, so that a
            // stolen access token cannot take the account over. An
            // administrator resetting someone else's needs no such proof.
            if caller.id == id {
                let stored = stored_hash(id)?.ok_or(ApiError::NotFound)?;
                let current = changes.current_password.as_deref().ok_or_else(|| {
                    ApiError::Validation(vec![FieldError::new(
                        "currentPassword",
                        "is required to change your own password",
                    )])
                })?;
                if !password::verify(current, &stored) {
                    return Err(ApiError::Validation(vec![FieldError::new(
                        "currentPassword",
                        "is not your current password",
                    )]));
                }
                // Changed in between (another session): the check above no
                // longer holds, so the update must not happen.
                expected.push(("password_hash", SqlValue::Text(stored)));
            }
            Some(hash_password(new_password)?)
        }
    };
    crud::update_if(
        ctx,
        &USER,
        &caller,
        changes.columns(new_hash),
        expected,
        None,
    )
}

fn self_or_admin(caller: &Caller, id: Uuid) -> Result<(), ApiError> {
    if caller.admin || caller.id == id {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "users may see and change only their own account",
        ))
    }
}

fn stored_hash(id: Uuid) -> Result<Option<String>, ApiError> {
    let db = db::connect()?;
    let row = db::one_row(
        &db,
        "SELECT (SELECT password_hash FROM users WHERE id = $1::uuid)",
        &[ParameterValue::Uuid(id.to_string())],
        "",
    )?;
    Ok(db::text(&row[0]).map(str::to_owned))
}

/// Argon2id with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| ApiError::Internal(format!("no randomness for a salt: {e}")))?;
    Ok(password::hash(password, &salt))
}
