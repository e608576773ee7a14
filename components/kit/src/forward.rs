//! Handing a request on to the component of another operation on the same
//! path, through Spin's local service chaining
//! (`http://<component>.spin.internal`). The forwarding component checks no
//! token and holds none of the target's grants: the target is reached only
//! this way (its route is private), checks the token itself, and answers.

use crate::error::ApiError;
use crate::request::Ctx;
use crate::response::Reply;
use spin_sdk::http::{Fields, OutgoingRequest, Scheme};
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::IncomingBody;
use wasi::io::streams::StreamError;

/// Sends the request to `target` with its body already complete
/// ([`crate::body::write_around`], as for replies: no back and forth while
/// the target reads it) and waits for the whole reply. The raw `wasi:http` calls keep
/// spin-sdk's request and response conversions out of the front doors.
pub async fn forward(ctx: Ctx, target: &str) -> Result<Reply, ApiError> {
    let failed = |what: &str| ApiError::Internal(format!("forwarding to {target}: {what}"));
    let mut fields: Vec<(String, Vec<u8>)> = ctx
        .headers()
        .iter()
        .filter(|(name, _)| forwards(name))
        .cloned()
        .collect();
    fields.push((
        "x-request-id".to_owned(),
        ctx.request_id.clone().into_bytes(),
    ));
    let headers = Fields::from_list(&fields).map_err(|e| failed(&format!("{e:?}")))?;
    let request = OutgoingRequest::new(headers);
    let path_and_query = if ctx.query.is_empty() {
        ctx.path.clone()
    } else {
        format!("{}?{}", ctx.path, ctx.query)
    };
    let _ = request.set_method(&ctx.method);
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(&format!("{target}.spin.internal")));
    let _ = request.set_path_with_query(Some(&path_and_query));
    let body = request.body().map_err(|()| failed("no request body"))?;
    let (pending, written) =
        crate::body::write_around(body, &ctx.body, || outgoing_handler::handle(request, None));
    let pending = pending.map_err(|e| failed(&format!("{e:?}")))?;
    written.map_err(|e| failed(&format!("writing the body: {e}")))?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(failed(&format!("{e:?}"))),
        Some(Err(())) | None => return Err(failed("no response")),
    };
    let mut reply = Reply {
        status: response.status(),
        headers: Vec::new(),
        body: Vec::new(),
    };
    for (name, value) in response.headers().entries() {
        // The target's own headers pass through; `x-request-id` and
        // `cache-control` are set once, by kit, on the way out.
        if let (Some(name), Ok(value)) = (passed_back(&name), String::from_utf8(value)) {
            reply.headers.push((name, value));
        }
    }
    let body = response
        .consume()
        .map_err(|()| failed("no response body"))?;
    let stream = body
        .stream()
        .map_err(|()| failed("no response body stream"))?;
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(bytes) => reply.body.extend_from_slice(&bytes),
            Err(StreamError::Closed) => break,
            Err(e) => return Err(failed(&format!("reading the reply: {e}"))),
        }
    }
    drop(stream);
    drop(IncomingBody::finish(body));
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
