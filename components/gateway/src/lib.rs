//! The front door of `/api/...`. Spin routes by path only, so one path cannot
//! name a component per method; this component does that last step: it finds
//! the operation for (method, path) and forwards the request, unchanged, to
//! `http://<operation>.spin.internal`. It holds no secrets and can reach only
//! the components listed in its `allowed_outbound_hosts`.

mod routes;

use kit::{ApiError, Ctx, Reply};
use spin_sdk::http::{IncomingRequest, Method, Request, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    kit::run_async(req, "gateway", forward).await
}

/// The OpenAPI 3.1 description of every route (tested against the route
/// table, so the two cannot drift apart).
const OPENAPI: &str = include_str!("../api/openapi.json");

async fn forward(ctx: Ctx) -> Result<Reply, ApiError> {
    if ctx.path == "/api/openapi.json" {
        return match ctx.method {
            Method::Get => Ok(Reply::json_bytes(200, OPENAPI.as_bytes().to_vec())),
            _ => Err(ApiError::MethodNotAllowed("GET")),
        };
    }
    let operation = routes::resolve(&ctx.method.to_string(), &ctx.path)?;
    let path_and_query = if ctx.query.is_empty() {
        ctx.path.clone()
    } else {
        format!("{}?{}", ctx.path, ctx.query)
    };

    let mut request = Request::builder();
    request
        .method(ctx.method.clone())
        .uri(format!("http://{operation}.spin.internal{path_and_query}"));
    for (name, value) in ctx.headers() {
        if forwards(name) {
            if let Ok(value) = std::str::from_utf8(value) {
                request.header(name.as_str(), value);
            }
        }
    }
    request.header("x-request-id", ctx.request_id.as_str());
    let request = request.body(ctx.body).build();

    let response: Response = spin_sdk::http::send(request)
        .await
        .map_err(|e| ApiError::Internal(format!("forwarding to {operation}: {e}")))?;
    let mut reply = Reply {
        status: *response.status(),
        headers: Vec::new(),
        body: Vec::new(),
    };
    for (name, value) in response.headers() {
        // The operation's own headers pass through; `x-request-id` and
        // `cache-control` are set once, by kit, on the way out.
        if let (Some(name), Some(value)) = (routes::response_header(name), value.as_str()) {
            reply.headers.push((name, value.to_owned()));
        }
    }
    reply.body = response.into_body();
    Ok(reply)
}

/// Request headers the operation needs; hop-by-hop headers and Spin's own
/// (`spin-*`, which Spin sets afresh for the chained request) stay behind.
fn forwards(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    !(name.starts_with("spin-")
        || matches!(
            name.as_str(),
            "host"
                | "connection"
                | "keep-alive"
                | "transfer-encoding"
                | "te"
                | "trailer"
                | "upgrade"
                | "proxy-authorization"
                | "proxy-connection"
                | "content-length"
                | "x-request-id"
        ))
}
