//! From a Spin HTTP request to a handler and back: every response carries
//! `x-request-id`, every error becomes problem+json, no body over 64 KiB is
//! ever read into memory.

use crate::error::ApiError;
use crate::response::Reply;
use crate::routes::{self, Dispatch};
use domain::request_id;
use futures::StreamExt;
use spin_sdk::http::{IncomingRequest, Method, ResponseOutparam};
use std::future::Future;
use uuid::Uuid;

/// Bodies above this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What a handler sees of the request.
pub struct Ctx {
    /// The function's name, e.g. `customers-update`; recorded in audit events.
    pub operation: &'static str,
    pub request_id: String,
    pub method: Method,
    pub path: String,
    pub query: String,
    headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Ctx {
    /// Every request header, as received.
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }
}

impl Ctx {
    /// A request header as text (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The body as JSON: 415 unless it is declared `application/json`, 400 when
    /// it is not JSON at all.
    pub fn json_body(&self) -> Result<serde_json::Value, ApiError> {
        let content_type = self.header("content-type").unwrap_or_default();
        let mime = content_type.split(';').next().unwrap_or_default().trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::UnsupportedMediaType);
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::BadRequest(
                format!(
                    "the body is not valid JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ),
                vec![],
            )
        })
    }

    /// The `:id` of `/api/<things>/:id`. Ids are UUIDs; anything else cannot
    /// name a record, so it is a 404 like any other unknown id.
    /// The `:id` segment of the operation's route (the last segment when
    /// the route has none).
    pub fn id_param(&self) -> Result<Uuid, ApiError> {
        let at = crate::routes::route_of(self.operation)
            .and_then(|r| r.pattern.split('/').position(|s| s == ":id"));
        let segment = match at {
            Some(i) => self.path.split('/').nth(i),
            None => self.path.rsplit('/').next(),
        };
        Uuid::try_parse(segment.unwrap_or_default()).map_err(|_| ApiError::NotFound)
    }

    /// `If-Match`: `None` when absent or `*`; otherwise the version it names.
    /// An ETag we never issued can match nothing, hence `Some(-1)`.
    pub fn if_match(&self) -> Option<i64> {
        let value = self.header("if-match")?.trim();
        if value == "*" {
            return None;
        }
        let tag = value.strip_prefix("W/").unwrap_or(value);
        Some(
            tag.strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(-1),
        )
    }
}

/// Runs one request through `handler`, for a component whose path has no
/// other method to hand on (or that is reached only by chaining): a path or
/// method its route does not have is a 404 or 405.
pub async fn run(
    req: IncomingRequest,
    out: ResponseOutparam,
    operation: &'static str,
    handler: impl FnOnce(&Ctx) -> Result<Reply, ApiError>,
) {
    serve(req, out, operation, |ctx| async move {
        match dispatch(&ctx)? {
            Dispatch::Here => handler(&ctx),
            Dispatch::Forward(target) => Err(ApiError::Internal(format!(
                "{operation} cannot hand {} on to {target}; serve it with kit::run_front",
                ctx.method
            ))),
        }
    })
    .await
}

/// As [`run`], for the component that serves a path in spin.toml (its GET):
/// the path's other methods go on to their own components by service
/// chaining, unread by this one. (Only components built with this import
/// `wasi:http/outgoing-handler`.)
pub async fn run_front(
    req: IncomingRequest,
    out: ResponseOutparam,
    operation: &'static str,
    handler: impl FnOnce(&Ctx) -> Result<Reply, ApiError>,
) {
    serve(req, out, operation, |ctx| async move {
        match dispatch(&ctx)? {
            Dispatch::Here => handler(&ctx),
            Dispatch::Forward(target) => crate::forward::forward(ctx, target).await,
        }
    })
    .await
}

/// As [`run`], for a component outside the API's route table (bench/token's
/// probes of kit's own cost): every path and method reaches `handler`.
pub async fn run_unrouted(
    req: IncomingRequest,
    out: ResponseOutparam,
    operation: &'static str,
    handler: impl FnOnce(&Ctx) -> Result<Reply, ApiError>,
) {
    serve(req, out, operation, |ctx| async move { handler(&ctx) }).await
}

/// The request read, `route` run on it, and the reply sent, whatever
/// happened.
async fn serve<F>(
    req: IncomingRequest,
    out: ResponseOutparam,
    operation: &'static str,
    route: impl FnOnce(Ctx) -> F,
) where
    F: Future<Output = Result<Reply, ApiError>>,
{
    let (request_id, ctx) = prepare(req, operation).await;
    let outcome = match ctx {
        Ok(ctx) => route(ctx).await,
        Err(e) => Err(e),
    };
    finish(operation, &request_id, outcome).send(&request_id, out);
    // The client has its answer; what is left waits on nobody.
    if let Some(work) = AFTER_RESPONSE.take() {
        work();
    }
}

thread_local! {
    static AFTER_RESPONSE: std::cell::Cell<Option<fn()>> = const { std::cell::Cell::new(None) };
}

/// Has `work` run once the response is sent (the cache's probe). Registered,
/// not called by name, so a component that never uses the cache links none
/// of it, and imports no key-value store.
pub(crate) fn after_response(work: fn()) {
    AFTER_RESPONSE.set(Some(work));
}

fn dispatch(ctx: &Ctx) -> Result<Dispatch, ApiError> {
    routes::dispatch(ctx.operation, &ctx.method.to_string(), &ctx.path)
}

async fn prepare(req: IncomingRequest, operation: &'static str) -> (String, Result<Ctx, ApiError>) {
    let headers = req.headers().entries();
    let request_id = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-request-id"))
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
        .filter(|id| request_id::is_sane(id))
        .map(str::to_owned)
        .unwrap_or_else(|| Uuid::now_v7().to_string());
    let method = req.method();
    let path_and_query = req.path_with_query().unwrap_or_default();
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (path_and_query, String::new()),
    };
    let ctx = read_body(req, &headers).await.map(|body| Ctx {
        operation,
        request_id: request_id.clone(),
        method,
        path,
        query,
        headers,
        body,
    });
    (request_id, ctx)
}

fn finish(operation: &str, request_id: &str, outcome: Result<Reply, ApiError>) -> Reply {
    let reply = match outcome {
        Ok(reply) => reply,
        Err(error) => {
            if let ApiError::Internal(message) = &error {
                crate::log_line!("{operation} request_id={request_id} internal error: {message}");
            }
            Reply::problem(&error, request_id)
        }
    };
    crate::log_line!(
        "{operation} request_id={request_id} status={}",
        reply.status
    );
    reply
}

/// Reads at most 64 KiB (+1 byte to detect more) of the body.
async fn read_body(
    req: IncomingRequest,
    headers: &[(String, Vec<u8>)],
) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let mut body = Vec::new();
    let mut stream = req.into_body_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::BadRequest(format!("the body could not be read: {e}"), vec![])
        })?;
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
    }
    Ok(body)
}
