//! An HTTP/1.1 listener in front of the app, for browser, fuzz and load tests.

use std::{net::SocketAddr, sync::Arc};

use http_body_util::BodyExt as _;
use hyper::{body::Incoming, service::service_fn, Request};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, task::JoinSet};

use crate::app::AppInner;

/// Serves connections until the returned future is dropped; dropping it also
/// closes the connections it accepted.
pub async fn serve(app: Arc<AppInner>, listener: TcpListener) -> anyhow::Result<()> {
    let mut connections = JoinSet::new();
    loop {
        let (stream, client_addr) = listener.accept().await?;
        while connections.try_join_next().is_some() {}
        connections.spawn(serve_connection(app.clone(), stream, client_addr));
    }
}

async fn serve_connection(
    app: Arc<AppInner>,
    stream: tokio::net::TcpStream,
    client_addr: SocketAddr,
) {
    let service = service_fn(move |req: Request<Incoming>| {
        let app = app.clone();
        async move {
            let req = req.map(|body| {
                body.map_err(wasmtime_wasi_http::hyper_request_error)
                    .boxed_unsync()
            });
            app.handle(req, client_addr).await
        }
    });
    if let Err(err) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        eprintln!("Error serving HTTP connection from {client_addr}: {err:?}");
    }
}
