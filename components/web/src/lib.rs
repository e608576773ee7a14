//! The web UI: every file of web/dist, embedded at build time (build.rs),
//! for every path that is not the API's (`route = "/..."`; Spin gives
//! `/api/...` to the API's own, more specific routes).
//!
//! - GET and HEAD only; any other method is a 405 problem+json.
//! - A file of web/dist is served as it is; `/assets/...` are Vite's
//!   content-hashed names, cached for a year (`immutable`), everything else
//!   is revalidated (`no-cache`) by its ETag.
//! - Any other path is index.html (the UI routes in the browser, so deep
//!   links work), except under `/assets/`: a missing asset is a 404, never
//!   a page of HTML that the browser would try to run as a script.
//! - The gzip copy when the client takes gzip and the copy is smaller.
//!
//! It holds nothing: no variables, no outbound hosts, no stores.

use kit::error::ApiError;
use spin_sdk::http::{Fields, IncomingRequest, Method, OutgoingResponse, ResponseOutparam};
use spin_sdk::http_component;
use std::borrow::Cow;

struct Body {
    bytes: &'static [u8],
    /// A strong ETag, quoted: a hash of `bytes`.
    etag: &'static str,
}

struct File {
    /// The URL path, e.g. `/assets/index-BdfteZCk.js`.
    path: &'static str,
    content_type: &'static str,
    identity: Body,
    gzip: Option<Body>,
}

include!(concat!(env!("OUT_DIR"), "/files.rs"));

/// No inline script or style, nothing from elsewhere; `data:` images for
/// the SVGs Bootstrap's CSS carries.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

#[http_component]
fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let headers = req.headers();
    let header = |name: &str| -> Option<String> {
        let values = headers.get(name);
        let joined = values
            .iter()
            .filter_map(|v| std::str::from_utf8(v).ok())
            .collect::<Vec<_>>()
            .join(",");
        (!values.is_empty()).then_some(joined)
    };
    let request_id = header("x-request-id")
        .filter(|id| domain::request_id::is_sane(id))
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let path_and_query = req.path_with_query().unwrap_or_default();
    let path = path_and_query.split(['?', '#']).next().unwrap_or_default();
    let method = req.method();

    let reply = if !matches!(method, Method::Get | Method::Head) {
        problem(ApiError::MethodNotAllowed("GET, HEAD"), &request_id)
    } else {
        match find(path) {
            None => problem(ApiError::NotFound, &request_id),
            Some(file) => {
                let gzip = file
                    .gzip
                    .as_ref()
                    .filter(|_| accepts_gzip(header("accept-encoding").as_deref()));
                let body = gzip.unwrap_or(&file.identity);
                let cache = if file.path.starts_with("/assets/") {
                    IMMUTABLE
                } else {
                    "no-cache"
                };
                let fresh = header("if-none-match").is_some_and(|tags| matches_any(&tags, file));
                let mut reply = Reply::new(if fresh { 304 } else { 200 })
                    .with("etag", body.etag)
                    .with("cache-control", cache);
                if !fresh {
                    reply = reply.with("content-type", file.content_type);
                    if gzip.is_some() {
                        reply = reply.with("content-encoding", "gzip");
                    }
                    if matches!(method, Method::Get) {
                        reply.body = Cow::Borrowed(body.bytes);
                    }
                }
                reply
            }
        }
    };
    kit::log_line!("web request_id={request_id} status={}", reply.status);
    reply
        .with("vary", "Accept-Encoding")
        .with("content-security-policy", CSP)
        .with("x-content-type-options", "nosniff")
        .with("referrer-policy", "no-referrer")
        .with("x-frame-options", "DENY")
        .with("x-request-id", &request_id)
        .send(out);
}

/// The file for `path`: itself, or index.html for any path outside
/// `/assets/` that is no file.
fn find(path: &str) -> Option<&'static File> {
    let by_path = |p: &str| {
        FILES
            .binary_search_by(|f| f.path.cmp(p))
            .ok()
            .map(|i| &FILES[i])
    };
    let path = if path.is_empty() { "/" } else { path };
    by_path(path).or_else(|| {
        (!path.starts_with("/assets/"))
            .then(|| by_path("/index.html"))
            .flatten()
    })
}

/// Whether `Accept-Encoding` takes gzip: named (or `*`) with a q above 0.
fn accepts_gzip(accept: Option<&str>) -> bool {
    let mut star = false;
    for item in accept.unwrap_or_default().split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or_default().trim();
        // A qvalue is 0 to 1 with at most three decimals: 0 only when
        // every digit is.
        let wanted = parts
            .filter_map(|p| {
                let p = p.trim();
                p.strip_prefix("q=").or_else(|| p.strip_prefix("Q="))
            })
            .all(|q| q.trim().bytes().any(|b| b.is_ascii_digit() && b != b'0'));
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            return wanted;
        }
        if coding == "*" {
            star = wanted;
        }
    }
    star
}

/// `If-None-Match` (weak comparison): `*`, or a tag of either of the
/// file's representations.
fn matches_any(tags: &str, file: &File) -> bool {
    tags.split(',').map(str::trim).any(|tag| {
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        tag == "*"
            || tag == file.identity.etag
            || file.gzip.as_ref().is_some_and(|gz| tag == gz.etag)
    })
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Cow<'static, [u8]>,
}

/// problem+json, as every function answers (kit::ApiError).
fn problem(error: ApiError, request_id: &str) -> Reply {
    let (body, headers) = error.to_problem(request_id);
    let mut reply = Reply::new(error.status())
        .with("content-type", "application/problem+json")
        .with("cache-control", "no-cache");
    for (name, value) in headers {
        reply = reply.with(name, &value);
    }
    reply.body = Cow::Owned(body);
    reply
}

impl Reply {
    fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Cow::Borrowed(&[]),
        }
    }

    fn with(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.as_bytes().to_vec()));
        self
    }

    fn send(self, out: ResponseOutparam) {
        let fields: Vec<(String, Vec<u8>)> = self
            .headers
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        let headers = Fields::from_list(&fields).unwrap_or_else(|_| Fields::new());
        let response = OutgoingResponse::new(headers);
        let _ = response.set_status_code(self.status);
        let Ok(body) = response.body() else {
            return out.set(response);
        };
        if let ((), Err(e)) = kit::body::write_around(body, &self.body, || out.set(response)) {
            kit::log_line!("web: the response body was cut short: {e}");
        }
    }
}
