//! One HTTP request through the app, the way Spin's HTTP trigger handles it:
//! well-known paths, routing, the `spin-*` headers, a fresh instance of the
//! matched component, and a 500 with an empty body when the guest fails.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::{anyhow, bail, Context as _};
use bytes::Bytes;
use http::{uri::Authority, HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt as _, Empty, Full};
use wasmtime::Store;
use wasmtime_wasi_http::{
    bindings::http::types::Scheme,
    body::{HostIncomingBody, HyperIncomingBody, HyperOutgoingBody},
    types::HostIncomingRequest,
    WasiHttpView as _,
};

use crate::{
    app::{AppInner, ComponentRuntime},
    outbound::service_chaining_target,
    routes::RouteMatch,
    state::HostState,
};

const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";
/// wasmtime-wasi-http's default limit on the in-memory size of headers.
const FIELD_SIZE_LIMIT: usize = 2 << 30;
const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(600);

pub fn full_body(bytes: Bytes) -> HyperOutgoingBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn empty_body() -> HyperOutgoingBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

fn status_response(status: StatusCode) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(empty_body());
    *response.status_mut() = status;
    response
}

impl AppInner {
    /// Handles a request from outside the app (a client of the listener).
    pub async fn handle(
        self: &Arc<Self>,
        mut req: Request<HyperIncomingBody>,
        client_addr: SocketAddr,
    ) -> anyhow::Result<Response<HyperOutgoingBody>> {
        strip_forbidden_headers(&mut req);
        let path = req.uri().path().to_string();
        if let Some(well_known) = path.strip_prefix(WELL_KNOWN_PREFIX) {
            return Ok(self.well_known(well_known));
        }
        match self.router.route(&path) {
            Some(route_match) => {
                self.handle_trigger_route(req, route_match, client_addr)
                    .await
            }
            None => Ok(status_response(StatusCode::NOT_FOUND)),
        }
    }

    fn well_known(&self, path: &str) -> Response<HyperOutgoingBody> {
        match path {
            "health" => Response::new(full_body(Bytes::from_static(b"OK"))),
            "info" => {
                let info = serde_json::json!({
                    "name": self.name,
                    "version": self.version,
                    "oci_image_digest": null,
                });
                Response::builder()
                    .header("content-type", "application/json")
                    .body(full_body(
                        serde_json::to_vec_pretty(&info).unwrap_or_default().into(),
                    ))
                    .expect("static response is valid")
            }
            _ => status_response(StatusCode::NOT_FOUND),
        }
    }

    /// Runs the component a route (or a service-chaining URL) selected.
    pub async fn handle_trigger_route(
        self: &Arc<Self>,
        mut req: Request<HyperIncomingBody>,
        route_match: RouteMatch,
        client_addr: SocketAddr,
    ) -> anyhow::Result<Response<HyperOutgoingBody>> {
        set_req_uri(&mut req)?;
        let component = self
            .components
            .get(&route_match.component_id)
            .with_context(|| format!("unknown routing destination '{}'", route_match.component_id))?
            .clone();
        match self
            .execute(component, &route_match, req, client_addr)
            .await
        {
            Ok(response) => Ok(response),
            Err(err) => {
                eprintln!(
                    "[{}] Error processing request: {err:?}",
                    route_match.component_id
                );
                Ok(status_response(StatusCode::INTERNAL_SERVER_ERROR))
            }
        }
    }

    async fn execute(
        self: &Arc<Self>,
        component: Arc<ComponentRuntime>,
        route_match: &RouteMatch,
        mut req: Request<HyperIncomingBody>,
        client_addr: SocketAddr,
    ) -> anyhow::Result<Response<HyperOutgoingBody>> {
        add_spin_headers(&mut req, route_match, client_addr)?;
        let mut store = Store::new(
            &self.engine,
            HostState::new(component.clone(), self.clone()),
        );
        let (parts, body) = req.into_parts();
        let body = HostIncomingBody::new(body, BETWEEN_BYTES_TIMEOUT, FIELD_SIZE_LIMIT);
        let incoming = HostIncomingRequest::new(
            store.data_mut(),
            parts,
            Scheme::Http,
            Some(body),
            FIELD_SIZE_LIMIT,
        )?;
        let request = store.data_mut().table.push(incoming)?;
        let (response_tx, response_rx) = tokio::sync::oneshot::channel();
        let response_out = store.data_mut().new_response_outparam(response_tx)?;

        let proxy = component.pre.instantiate_async(&mut store).await?;
        let guest = tokio::spawn(async move {
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, request, response_out)
                .await
        });

        match response_rx.await {
            Ok(response) => {
                let id = component.id.clone();
                // The body may still be streaming; report a late guest failure.
                tokio::spawn(async move {
                    match guest.await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            eprintln!("[{id}] Component error after response started: {e:?}")
                        }
                        Err(e) => eprintln!("[{id}] guest invocation panicked: {e}"),
                    }
                });
                response.map_err(|code| anyhow!("guest failed to produce a response: {code:?}"))
            }
            Err(_) => {
                guest
                    .await
                    .context("guest invocation panicked")?
                    .context("guest invocation failed")?;
                bail!("guest failed to produce a response prior to returning")
            }
        }
    }
}

/// A client may not pose as a component by sending its chaining host.
fn strip_forbidden_headers<B>(req: &mut Request<B>) {
    let chaining_host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| service_chaining_target(h).is_some());
    if chaining_host {
        req.headers_mut().remove(http::header::HOST);
    }
}

/// Makes the URI absolute: `http` and the authority of the `Host` header
/// (which must agree with the URI's authority if it has one).
fn set_req_uri<B>(req: &mut Request<B>) -> anyhow::Result<()> {
    let header_authority = req
        .headers()
        .get(http::header::HOST)
        .map(|h| -> anyhow::Result<Authority> {
            h.to_str()
                .context("'Host' header is not valid UTF-8")?
                .parse()
                .context("'Host' header contains an invalid authority")
        })
        .transpose()?;
    let mut parts = req.uri().clone().into_parts();
    let authority = match (header_authority, parts.authority.take()) {
        (None, None) => bail!("no 'Host' header present in request"),
        (None, Some(a)) | (Some(a), None) => a,
        (Some(header), Some(uri)) => {
            if header != uri {
                bail!("authority in 'Host' header does not match authority in URI");
            }
            header
        }
    };
    parts.scheme = Some(http::uri::Scheme::HTTP);
    parts.authority = Some(authority);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some("/".parse()?);
    }
    *req.uri_mut() = Uri::from_parts(parts)?;
    Ok(())
}

/// The client's headers followed by Spin's `spin-*` headers.
fn add_spin_headers<B>(
    req: &mut Request<B>,
    route_match: &RouteMatch,
    client_addr: SocketAddr,
) -> anyhow::Result<()> {
    let host = match req.headers().get(http::header::HOST) {
        Some(h) => h.to_str()?.to_string(),
        None => "localhost".to_string(),
    };
    let uri = req.uri();
    let scheme = uri.scheme_str().unwrap_or("http");
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let full_url = format!("{scheme}://{host}{path_and_query}");

    let mut headers = Vec::new();
    for (name, value) in req.headers() {
        // Spin refuses requests whose header values are not UTF-8.
        let value = std::str::from_utf8(value.as_bytes())?;
        headers.push((name.to_string(), value.to_string()));
    }
    headers.extend(route_match.spin_headers(&full_url, client_addr));

    let map = req.headers_mut();
    map.clear();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            name.parse::<HeaderName>(),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            map.append(name, value);
        }
    }
    Ok(())
}
