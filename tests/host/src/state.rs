//! The data of one component instance (one request): its WASI context, its
//! resources, and links to the component's configuration and the app.

use std::{
    io::Write as _,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{
    cli::{IsTerminal, StdoutStream},
    sockets::SocketAddrUse,
    WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};
use wasmtime_wasi_http::{
    types::{HostFutureIncomingResponse, OutgoingRequestConfig},
    HttpResult, WasiHttpCtx, WasiHttpView,
};

use crate::app::{AppInner, ComponentRuntime, LogWriteCounts};
use crate::bindings::fermyon::spin2_0_0::variables;
use crate::variables::VariableError;

pub struct HostState {
    pub table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    pub component: Arc<ComponentRuntime>,
    pub app: Arc<AppInner>,
}

impl HostState {
    pub fn new(component: Arc<ComponentRuntime>, app: Arc<AppInner>) -> Self {
        let mut wasi = WasiCtxBuilder::new();
        wasi.envs(&component.environment)
            .stdout(PrefixedStderr::new(&component.id, &app.log_writes))
            .stderr(PrefixedStderr::new(&component.id, &app.log_writes));
        let allowed = component.clone();
        // Raw sockets obey allowed_outbound_hosts with the tcp/udp schemes, as in Spin.
        wasi.socket_addr_check(move |addr, addr_use| {
            let component = allowed.clone();
            Box::pin(async move {
                let scheme = match addr_use {
                    SocketAddrUse::TcpBind => return false,
                    SocketAddrUse::TcpConnect => "tcp",
                    SocketAddrUse::UdpBind
                    | SocketAddrUse::UdpConnect
                    | SocketAddrUse::UdpOutgoingDatagram => "udp",
                };
                component
                    .allowed_hosts
                    .check_url(&addr.to_string(), scheme)
                    .unwrap_or(false)
            })
        });
        Self {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            component,
            app,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn ctx(&mut self) -> &mut WasiHttpCtx {
        &mut self.http
    }

    fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    fn send_request(
        &mut self,
        request: hyper::Request<wasmtime_wasi_http::body::HyperOutgoingBody>,
        config: OutgoingRequestConfig,
    ) -> HttpResult<HostFutureIncomingResponse> {
        Ok(crate::chaining::send_request(
            self.app.clone(),
            self.component.clone(),
            request,
            config,
        ))
    }
}

impl variables::Host for HostState {
    async fn get(&mut self, name: String) -> Result<String, variables::Error> {
        self.app
            .variables
            .get(&self.component.id, &name)
            .map_err(|e| match e {
                VariableError::InvalidName(m) => variables::Error::InvalidName(m),
                VariableError::Undefined(m) => variables::Error::Undefined(m),
                VariableError::Provider(m) => variables::Error::Provider(m),
                VariableError::InvalidTemplate(_) => variables::Error::Other(e.to_string()),
            })
    }
}

/// Guest stdout/stderr, written line by line to the host's stderr with a
/// `[component-id]` prefix so that concurrent requests stay readable.
///
/// Spin is not so kind: it appends each guest write to the component's log
/// file as it comes (and to its own stderr when following), so a line that
/// a request writes in pieces interleaves with the pieces of concurrent
/// requests, and each piece costs a trip through Spin's blocking threads.
/// Such writes are counted ([`crate::App::log_writes`]) for the tests to
/// require none.
#[derive(Clone)]
struct PrefixedStderr {
    prefix: Arc<str>,
    counts: Arc<LogWriteCounts>,
}

impl PrefixedStderr {
    fn new(component_id: &str, counts: &Arc<LogWriteCounts>) -> Self {
        Self {
            prefix: format!("[{component_id}] ").into(),
            counts: counts.clone(),
        }
    }
}

impl IsTerminal for PrefixedStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for PrefixedStderr {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            prefix: self.prefix.clone(),
            pending: Vec::new(),
            counts: self.counts.clone(),
        })
    }
}

struct LineWriter {
    prefix: Arc<str>,
    pending: Vec<u8>,
    counts: Arc<LogWriteCounts>,
}

impl LineWriter {
    fn write_lines(&mut self, flush_partial: bool) {
        let mut stderr = std::io::stderr().lock();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let _ = stderr.write_all(self.prefix.as_bytes());
            let _ = stderr.write_all(&line);
        }
        if flush_partial && !self.pending.is_empty() {
            let _ = stderr.write_all(self.prefix.as_bytes());
            let _ = stderr.write_all(&self.pending);
            let _ = stderr.write_all(b"\n");
            self.pending.clear();
        }
    }
}

impl tokio::io::AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.counts.record(buf);
        self.pending.extend_from_slice(buf);
        self.write_lines(false);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.write_lines(true);
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.write_lines(true);
    }
}
