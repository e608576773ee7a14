//! Handing a request on to the component of another operation on the same
//! path, through Spin's local service chaining
//! (`http://<component>.spin.internal`). The forwarding component checks no
//! token and holds none of the target's grants: the target is reached only
//! this way (its route is private), checks the token itself, and answers.

use crate::error::ApiError;
use crate::request::Ctx;
use crate::response::Reply;
use spin_sdk::http::{Request, Response};

pub async fn forward(ctx: Ctx, target: &str) -> Result<Reply, ApiError> {
    let path_and_query = if ctx.query.is_empty() {
        ctx.path.clone()
    } else {
        format!("{}?{}", ctx.path, ctx.query)
    };
    let mut request = Request::builder();
    request
        .method(ctx.method.clone())
        .uri(format!("http://{target}.spin.internal{path_and_query}"));
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
        .map_err(|e| ApiError::Internal(format!("forwarding to {target}: {e}")))?;
    let mut reply = Reply {
        status: *response.status(),
        headers: Vec::new(),
        body: Vec::new(),
    };
    for (name, value) in response.headers() {
        // The target's own headers pass through; `x-request-id` and
        // `cache-control` are set once, by kit, on the way out.
        if let (Some(name), Some(value)) = (passed_back(name), value.as_str()) {
            reply.headers.push((name, value.to_owned()));
        }
    }
    reply.body = response.into_body();
    Ok(reply)
}

/// Request headers the target needs; hop-by-hop headers and Spin's own
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

/// Response headers worth passing back to the client, by their static name.
fn passed_back(name: &str) -> Option<&'static str> {
    const PASSED: &[&str] = &[
        "content-type",
        "etag",
        "location",
        "allow",
        "www-authenticate",
        "retry-after",
    ];
    PASSED
        .iter()
        .copied()
        .find(|p| p.eq_ignore_ascii_case(name))
}
