//! `POST /api/auth/login`, `/refresh` and `/logout` (see [`crate::sessions`]).

use crate::db;
use crate::error::ApiError;
use crate::request::Ctx;
use crate::response::Reply;
use crate::sessions::{self, Holder, HOLDER_COLUMNS};
use crate::throttle::{self, Limit, Throttle};
use domain::password;
use domain::user::Credentials;
use spin_sdk::pg4::ParameterValue;

const WRONG: &str = "the email or password is not right";
const THROTTLED: &str = "too many failed logins for this email or from this address";

/// A wrong email and a wrong password get the same answer, after the same
/// work: an unknown email is verified against a dummy hash.
pub fn login(ctx: &Ctx) -> Result<Reply, ApiError> {
    let credentials = Credentials::parse(&ctx.json_body()?)?;
    let throttle = Throttle::open()?;
    let per_email = Limit::new(
        "login-email",
        &throttle::email_key(&credentials.email),
        "login_failures_per_email",
    )?;
    let per_address = Limit::new(
        "login-address",
        &throttle::client_address(ctx),
        "login_failures_per_address",
    )?;
    throttle.refuse_if_over(&[&per_email, &per_address], THROTTLED)?;

    // One row whether or not the email has an account: the user's columns,
    // NULL when there is none; then its hash and whether it may log in. The
    // connection goes back to Spin's pool before the password is checked:
    // held through Argon2's ~50 ms, 32 logins at once took 32 of Postgres's
    // 100 connections and ran it out of them under Spin 4.0.2.
    let row = db::one_row(
        &db::connect()?,
        &format!(
            "SELECT {HOLDER_COLUMNS}, u.password_hash, \
               (u.active AND now() BETWEEN u.valid_from AND u.valid_thru) \
             FROM (SELECT 1) one LEFT JOIN users u ON lower(u.email) = lower($1::text)"
        ),
        &[ParameterValue::Str(credentials.email.clone())],
        "",
    )?;
    let hash = db::text(&row[5]).unwrap_or(password::DUMMY_HASH);
    let password_matches = password::verify(&credentials.password, hash);
    let holder = Holder::from_row(&row[..5]).filter(|_| password_matches && db::boolean(&row[6]));
    let Some(holder) = holder else {
        throttle.count(&[&per_email, &per_address]);
        return Err(ApiError::Unauthorized(WRONG));
    };
    throttle.clear(&per_email);
    let refresh_token = sessions::start_family(&db::connect()?, holder.id)?;
    sessions::issue(&holder, &refresh_token)
}

pub fn refresh(ctx: &Ctx) -> Result<Reply, ApiError> {
    let presented = sessions::presented_refresh_token(ctx)?.ok_or(ApiError::Unauthorized(
        "a refresh token is required (body or cookie)",
    ))?;
    let db = db::connect()?;
    let (holder, next) = sessions::rotate(&db, &presented)?;
    sessions::issue(&holder, &next)
}

/// 204 whether or not the token was known: logging out twice is no error.
pub fn logout(ctx: &Ctx) -> Result<Reply, ApiError> {
    if let Some(presented) = sessions::presented_refresh_token(ctx)? {
        let db = db::connect()?;
        sessions::revoke_family(&db, &presented)?;
    }
    Ok(Reply::no_content().with_header("set-cookie", sessions::clear_cookie()))
}
