//! `spintemp-host`: runs a Spin app (`spin.toml` + its wasm32-wasip2
//! components) under wasmtime the way Spin does, for tests.
//!
//! Production is Spin. This host exists because Spin's runtime crates are not
//! published and the Spin CLI is not installed where the tests run; it must
//! behave like Spin wherever a component could notice (see
//! `shared/reference/spin-verified.md`):
//!
//! - routes, private routes, service chaining to `<id>.spin.internal`, and the
//!   `spin-*` request headers;
//! - `spin:postgres/postgres@4.0.0` with Spin's type mapping and errors, and
//!   by default Spin 4.0's refusal to answer a `query` that matches no row
//!   (see [`ZeroRowQueries`]);
//! - `fermyon:spin/redis@2.0.0`, `fermyon:spin/variables@2.0.0`, and
//!   `fermyon:spin/key-value@2.0.0` with the stores of a runtime config;
//! - `allowed_outbound_hosts` for Postgres, Redis and HTTP;
//! - a fresh, pre-instantiated instance per request (pooling allocator).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use spintemp_host::{App, HostOptions};
//! let app = App::load("spin.toml", HostOptions {
//!     variables: vec![("db_url".into(), "postgres://postgres@127.0.0.1/app?sslmode=disable".into())],
//!     ..HostOptions::default()
//! }).await?;
//! let req = http::Request::get("/api/health").body(bytes::Bytes::new())?;
//! let res = app.handle(req).await?;
//! assert!(res.status().is_success());
//! # Ok(()) }
//! ```

mod app;
mod chaining;
mod compile;
mod kv;
pub mod manifest;
pub mod outbound;
pub mod own_postgres;
pub mod own_redis;
mod pg;
mod redis;
pub mod routes;
pub mod runtime_config;
mod server;
mod state;
mod trigger;
pub mod variables;

#[allow(missing_docs, clippy::all)]
mod bindings {
    include!(concat!(env!("OUT_DIR"), "/spin_bindings.rs"));
}

/// The WIT folder of the spin-sdk 5.2 crate the components are built with,
/// where the interfaces this host implements are defined.
pub const SPIN_SDK_WIT_DIR: &str = env!("SPINTEMP_SPIN_SDK_WIT_DIR");

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::Path,
    sync::Arc,
};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::BodyExt as _;

/// What `spin up` would get from its command line.
#[derive(Debug, Clone, Default)]
pub struct HostOptions {
    /// Application variable values, like `spin up --variable name=value`.
    /// They win over `SPIN_VARIABLE_<NAME>` from the environment, which wins
    /// over the manifest `default`.
    pub variables: Vec<(String, String)>,
    /// Like `spin up --runtime-config-file`: the key-value stores.
    pub runtime_config: Option<std::path::PathBuf>,
    /// What a Postgres `query` whose result has no rows does.
    pub zero_row_queries: ZeroRowQueries,
}

/// Spin 4.0.0–4.0.2 never answer a Postgres `query` that matches no row: the
/// host call deadlocks and the request hangs (spinframework/spin#3671).
/// Spin 3.x answers with an empty result. The components must work on both,
/// so by default this host makes such a query fail loudly: it logs the
/// statement and gives the component an error that names the issue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ZeroRowQueries {
    /// Spin 4.0.x: the request fails (it would hang under Spin).
    #[default]
    Fail,
    /// Spin 3.x: an empty result, with an empty column list.
    Empty,
}

/// Writes of guests to stdout and stderr, by how they end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogWrites {
    /// Writes of one or more whole lines.
    pub whole_lines: u64,
    /// Writes that ended mid-line: under Spin, what concurrent requests
    /// write in between lands inside the line, in the component's log.
    pub torn: u64,
}

/// A loaded app. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct App {
    inner: Arc<app::AppInner>,
}

/// The client address `App::handle` reports in `spin-client-addr`.
const IN_PROCESS_CLIENT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

impl App {
    /// Reads the manifest (paths in it are relative to its directory),
    /// resolves variables and `allowed_outbound_hosts`, and compiles and
    /// pre-instantiates every component that an HTTP trigger names.
    ///
    /// Fails like `spin up` does when a required variable has no value, and
    /// when a component's `.wasm` is missing (build the components first).
    pub async fn load(manifest: impl AsRef<Path>, options: HostOptions) -> anyhow::Result<App> {
        let manifest = manifest.as_ref();
        let inner = app::AppInner::load(manifest, options)
            .await
            .with_context(|| format!("loading {}", manifest.display()))?;
        Ok(App {
            inner: Arc::new(inner),
        })
    }

    /// Sends one request through routing, as a client of `spin up` would.
    ///
    /// `req.uri()` may be absolute (`http://host/path`) or path-only; a
    /// path-only request without a `Host` header is sent as `Host: localhost`.
    /// The response body is read to the end.
    pub async fn handle(&self, req: http::Request<Bytes>) -> anyhow::Result<http::Response<Bytes>> {
        self.handle_from(req, IN_PROCESS_CLIENT_ADDR).await
    }

    /// As [`App::handle`], from a client at `client_addr` (what the
    /// component sees in `spin-client-addr`, as Spin reports the peer of
    /// the connection).
    pub async fn handle_from(
        &self,
        req: http::Request<Bytes>,
        client_addr: SocketAddr,
    ) -> anyhow::Result<http::Response<Bytes>> {
        let (mut parts, body) = req.into_parts();
        if !parts.headers.contains_key(http::header::HOST) {
            let host = match parts.uri.authority() {
                Some(authority) => authority.as_str().to_string(),
                None => "localhost".to_string(),
            };
            parts.headers.insert(http::header::HOST, host.parse()?);
        }
        if parts.uri.authority().is_some() {
            // Like a client on the wire: the authority travels in `Host`.
            parts.uri = parts
                .uri
                .path_and_query()
                .map(|pq| pq.as_str())
                .unwrap_or("/")
                .parse()?;
        }
        let req = http::Request::from_parts(parts, trigger::full_body(body));
        let response = self.inner.handle(req, client_addr).await?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|code| anyhow::anyhow!("reading the response body: {code:?}"))?
            .to_bytes();
        Ok(http::Response::from_parts(parts, body))
    }

    /// Sets `key` in the app's local (in-memory) key-value store `label`,
    /// as a component granted it could: for tests of what the app makes of
    /// a value it did not write. Fails for a Redis store (write to the
    /// Redis itself) and for a label the runtime config does not define.
    pub fn local_store_set(&self, label: &str, key: &str, value: &[u8]) -> anyhow::Result<()> {
        self.inner.kv.local_set(label, key, value)
    }

    /// The value under `key` in the local key-value store `label`.
    pub fn local_store_get(&self, label: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        self.inner.kv.local_get(label, key)
    }

    /// The writes of the app's components to stdout and stderr so far.
    pub fn log_writes(&self) -> LogWrites {
        self.inner.log_writes.snapshot()
    }

    /// Serves the app over HTTP/1.1 on `listener` until the future is dropped.
    pub async fn serve(&self, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
        server::serve(self.inner.clone(), listener).await
    }

    /// `(component id, route)` for every routable component, in the form
    /// `spin up` prints them (`/api (wildcard)`).
    pub fn routes(&self) -> Vec<(String, String)> {
        self.inner.router.routes()
    }
}
