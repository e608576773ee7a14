//! One error type for every function, and its problem+json (RFC 9457) form.
//! `detail` is written for the API's users: no SQL, no internal names.

use domain::FieldError;
use serde_json::json;

#[derive(Debug)]
pub enum ApiError {
    /// 400: malformed JSON, or query parameters of the wrong type.
    BadRequest(String, Vec<FieldError>),
    /// 401, with `WWW-Authenticate: Bearer`.
    Unauthorized(&'static str),
    Forbidden(&'static str),
    NotFound,
    MethodNotAllowed(&'static str),
    Conflict(String),
    PreconditionFailed,
    /// 428: a change that must name the version it was decided on.
    PreconditionRequired,
    PayloadTooLarge,
    UnsupportedMediaType,
    Validation(Vec<FieldError>),
    /// 429 with `Retry-After` (seconds): throttled.
    TooManyRequests(&'static str, u64),
    /// 503 with `Retry-After`: a dependency we cannot work without is down.
    Unavailable(&'static str),
    /// 503 with `Retry-After`: the database's connection was lost while it
    /// ran a change, so whether the change was made is not known.
    OutcomeUnknown,
    /// 500. The message goes to the log only, never to the client.
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(..) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::Conflict(_) => 409,
            ApiError::PreconditionFailed => 412,
            ApiError::PreconditionRequired => 428,
            ApiError::PayloadTooLarge => 413,
            ApiError::UnsupportedMediaType => 415,
            ApiError::Validation(_) => 422,
            ApiError::TooManyRequests(..) => 429,
            ApiError::Unavailable(_) | ApiError::OutcomeUnknown => 503,
            ApiError::Internal(_) => 500,
        }
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadRequest(..) => ("bad-request", "Bad request"),
            ApiError::Unauthorized(_) => ("unauthorized", "Unauthorized"),
            ApiError::Forbidden(_) => ("forbidden", "Forbidden"),
            ApiError::NotFound => ("not-found", "Not found"),
            ApiError::MethodNotAllowed(_) => ("method-not-allowed", "Method not allowed"),
            ApiError::Conflict(_) => ("conflict", "Conflict"),
            ApiError::PreconditionFailed => ("precondition-failed", "Precondition failed"),
            ApiError::PreconditionRequired => ("precondition-required", "Precondition required"),
            ApiError::PayloadTooLarge => ("payload-too-large", "Payload too large"),
            ApiError::UnsupportedMediaType => ("unsupported-media-type", "Unsupported media type"),
            ApiError::Validation(_) => ("validation", "Validation failed"),
            ApiError::TooManyRequests(..) => ("too-many-requests", "Too many requests"),
            ApiError::Unavailable(_) => ("unavailable", "Service unavailable"),
            ApiError::OutcomeUnknown => ("outcome-unknown", "Outcome unknown"),
            ApiError::Internal(_) => ("internal", "Internal error"),
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::BadRequest(detail, _) => detail.clone(),
            ApiError::Unauthorized(why) | ApiError::Forbidden(why) => (*why).to_owned(),
            ApiError::NotFound => "no such resource".to_owned(),
            ApiError::MethodNotAllowed(allow) => format!("this route accepts {allow}"),
            ApiError::Conflict(why) => why.clone(),
            ApiError::PreconditionFailed => {
                "If-Match does not match the current version; fetch the record again".to_owned()
            }
            ApiError::PreconditionRequired => {
                "send If-Match with the ETag of the version this change was decided on".to_owned()
            }
            ApiError::PayloadTooLarge => "the body is larger than 64 KiB".to_owned(),
            ApiError::UnsupportedMediaType => "the body must be application/json".to_owned(),
            ApiError::Validation(_) => "some fields are not valid".to_owned(),
            ApiError::TooManyRequests(why, seconds) => {
                format!("{why}; try again in {seconds} seconds")
            }
            ApiError::Unavailable(what) => format!("{what} is unavailable; retry shortly"),
            ApiError::OutcomeUnknown => "the connection to the database was lost before it \
                confirmed this change, so it may or may not have been made: read the record \
                to find out, or send the same request again (with If-Match, a change that \
                was made is refused with 412 rather than made twice)"
                .to_owned(),
            ApiError::Internal(_) => "something went wrong on our side".to_owned(),
        }
    }

    /// The problem+json body and the extra headers this status needs.
    pub fn to_problem(&self, request_id: &str) -> (Vec<u8>, Vec<(&'static str, String)>) {
        let (slug, title) = self.slug_and_title();
        let mut body = json!({
            "type": format!("https://spintemp.dev/problems/{slug}"),
            "title": title,
            "status": self.status(),
            "detail": self.detail(),
            "requestId": request_id,
        });
        let errors = match self {
            ApiError::Validation(errors) | ApiError::BadRequest(_, errors) => errors.as_slice(),
            _ => &[],
        };
        if !errors.is_empty() {
            body["errors"] = json!(errors);
        }
        let headers = match self {
            ApiError::Unauthorized(_) => vec![("www-authenticate", "Bearer".to_owned())],
            ApiError::MethodNotAllowed(allow) => vec![("allow", (*allow).to_owned())],
            ApiError::Unavailable(_) | ApiError::OutcomeUnknown => {
                vec![("retry-after", "5".to_owned())]
            }
            ApiError::TooManyRequests(_, seconds) => vec![("retry-after", seconds.to_string())],
            _ => vec![],
        };
        (serde_json::to_vec(&body).unwrap_or_default(), headers)
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        ApiError::Validation(errors)
    }
}
