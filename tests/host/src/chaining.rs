//! Outbound `wasi:http` requests: `allowed_outbound_hosts`, local service
//! chaining and self requests, as Spin's outbound HTTP factor does them.
//!
//! A request to `http://<component-id>.spin.internal/<path>` is not sent over
//! the network: the target component runs in-process in a fresh instance, as
//! if its route were `/...` (so it sees `spin-path-info: /<path>`,
//! `spin-matched-route: /...` and `spin-client-addr: 0.0.0.0:0`). The caller
//! needs `http://<component-id>.spin.internal` (or a wildcard such as
//! `http://*.spin.internal`) in its `allowed_outbound_hosts`; the target may be
//! a private (`route = { private = true }`) component.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
};

use http::{header::HOST, Uri};
use wasmtime_wasi_http::{
    bindings::http::types::ErrorCode,
    body::HyperOutgoingBody,
    types::{
        default_send_request_handler, HostFutureIncomingResponse, IncomingResponse,
        OutgoingRequestConfig,
    },
};

use crate::{
    app::{AppInner, ComponentRuntime},
    outbound::service_chaining_target,
    routes::RouteMatch,
};

/// The client address a chained component sees (Spin's `CHAINED_CLIENT_ADDR`).
const CHAINED_CLIENT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
/// The client address of a self request handled in-process.
const SELF_CLIENT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

enum SendError {
    /// Returned to the guest as the request's error code.
    Code(ErrorCode),
    /// Traps the calling guest.
    Trap(anyhow::Error),
}

impl From<ErrorCode> for SendError {
    fn from(code: ErrorCode) -> Self {
        Self::Code(code)
    }
}

pub fn send_request(
    app: Arc<AppInner>,
    component: Arc<ComponentRuntime>,
    request: hyper::Request<HyperOutgoingBody>,
    config: OutgoingRequestConfig,
) -> HostFutureIncomingResponse {
    let task = wasmtime_wasi::runtime::spawn(async move {
        match send(app, component, request, config).await {
            Ok(response) => Ok(Ok(response)),
            Err(SendError::Code(code)) => Ok(Err(code)),
            Err(SendError::Trap(trap)) => Err(trap),
        }
    });
    HostFutureIncomingResponse::pending(task)
}

async fn send(
    app: Arc<AppInner>,
    component: Arc<ComponentRuntime>,
    mut request: hyper::Request<HyperOutgoingBody>,
    config: OutgoingRequestConfig,
) -> Result<IncomingResponse, SendError> {
    // wasmtime-wasi-http gives relative URLs an empty authority; undo that.
    if request
        .uri()
        .authority()
        .is_some_and(|a| a.host().is_empty())
    {
        let mut builder = Uri::builder();
        if let Some(pq) = request.uri().path_and_query() {
            builder = builder.path_and_query(pq.clone());
        }
        *request.uri_mut() = builder
            .build()
            .map_err(|_| ErrorCode::HttpRequestUriInvalid)?;
    }
    let is_self_request = match request.uri().authority() {
        Some(authority) => authority.host() == "self.alt",
        None => true,
    };
    let allowed = if is_self_request {
        component.allowed_hosts.check_relative(&["http", "https"])
    } else {
        component
            .allowed_hosts
            .check_url(&request.uri().to_string(), "https")
            .unwrap_or(false)
    };
    if !allowed {
        return Err(ErrorCode::HttpRequestDenied.into());
    }
    request.headers_mut().remove(HOST);

    let between_bytes_timeout = config.between_bytes_timeout;
    let incoming = |resp| IncomingResponse {
        resp,
        worker: None,
        between_bytes_timeout,
    };

    if is_self_request {
        // Spin sends these to its own listener; routing them in-process is
        // the same thing without needing a listener.
        request
            .headers_mut()
            .insert(HOST, http::HeaderValue::from_static("localhost"));
        let response = app
            .handle(request, SELF_CLIENT_ADDR)
            .await
            .map_err(SendError::Trap)?;
        return Ok(incoming(response));
    }

    let target = request
        .uri()
        .host()
        .and_then(service_chaining_target)
        .map(str::to_owned);
    if let Some(target) = target {
        let path = request.uri().path().to_owned();
        let route_match = RouteMatch::synthetic(&target, &path);
        let response = app
            .handle_trigger_route(request, route_match, CHAINED_CLIENT_ADDR)
            .await
            .map_err(SendError::Trap)?;
        return Ok(incoming(response));
    }

    Ok(default_send_request_handler(request, config).await?)
}
