//! The `spintemp-host` binary: serving over TCP, `SPIN_VARIABLE_*` from its
//! environment, guest output forwarding, and the startup route listing.

mod common;

use std::{
    net::SocketAddr,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use common::{build_probe, echoed_header, manifest_for_tests, pg_admin_url, unique};
use http_body_util::{BodyExt as _, Empty};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    net::TcpStream,
    process::{Child, Command},
};

struct Server {
    _child: Child,
    addr: SocketAddr,
    output: Arc<Mutex<String>>,
}

impl Server {
    /// Starts the binary on a free port and waits for its "Serving" line.
    async fn start(args: &[String], env: &[(&str, &str)]) -> Server {
        build_probe().await;
        let mut child = Command::new(env!("CARGO_BIN_EXE_spintemp-host"))
            .arg("--manifest")
            .arg(manifest_for_tests())
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting spintemp-host");
        let output = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let mut addr_tx = Some(addr_tx);
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let out = output.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                if let Some(url) = line.strip_prefix("Serving http://") {
                    if let Some(tx) = addr_tx.take() {
                        let _ = tx.send(url.trim().parse::<SocketAddr>().unwrap());
                    }
                }
                out.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let out = output.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                out.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let addr = tokio::time::timeout(Duration::from_secs(120), addr_rx)
            .await
            .unwrap_or_else(|_| panic!("no Serving line; output:\n{}", output.lock().unwrap()))
            .unwrap_or_else(|_| {
                panic!("spintemp-host exited; output:\n{}", output.lock().unwrap())
            });
        Server {
            _child: child,
            addr,
            output,
        }
    }

    /// GET over a fresh TCP connection; returns the status, the body and the
    /// client's local address.
    async fn get(&self, path: &str) -> (u16, String, SocketAddr) {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let local = stream.local_addr().unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        let req = http::Request::get(path)
            .header("host", self.addr.to_string())
            .body(Empty::<Bytes>::new())
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned(), local)
    }

    async fn var(&self, name: &str) -> Value {
        let (status, body, _) = self.get(&format!("/p/?op=var&name={name}")).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    async fn wait_for_output(&self, needle: &str) {
        for _ in 0..100 {
            if self.output().contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{needle:?} never appeared in:\n{}", self.output());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_the_app_like_spin_up() {
    let token = unique("token");
    let server = Server::start(
        &[
            "--variable".into(),
            format!("db_url={}", pg_admin_url()),
            "--variable".into(),
            "greeting=from-the-flag".into(),
        ],
        &[
            ("SPIN_VARIABLE_PROBE_TOKEN", token.as_str()),
            ("SPIN_VARIABLE_ENV_GREETING", "from-the-environment"),
            ("SPIN_VARIABLE_GREETING", "loses-to-the-flag"),
        ],
    )
    .await;
    let base = format!("http://{}", server.addr);

    // Variables: --variable > SPIN_VARIABLE_* > default.
    assert_eq!(server.var("greeting").await["ok"], "from-the-flag");
    assert_eq!(
        server.var("env_greeting").await["ok"],
        "from-the-environment"
    );
    assert_eq!(server.var("token").await["ok"], token.as_str());
    assert_eq!(
        server.var("redis_url").await["ok"],
        "redis://127.0.0.1:6379"
    );

    // Headers, with the real listener address and client address.
    let (status, body, local) = server.get("/probe/42/rest/of?q=1").await;
    assert_eq!(status, 200);
    let echo: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        echoed_header(&echo, "spin-full-url"),
        Some(format!("{base}/probe/42/rest/of?q=1").as_str())
    );
    assert_eq!(
        echoed_header(&echo, "spin-client-addr"),
        Some(local.to_string().as_str())
    );
    assert_eq!(echoed_header(&echo, "spin-path-match-id"), Some("42"));

    let (status, body, _) = server.get("/not/routed").await;
    assert_eq!((status, body.as_str()), (404, ""));

    // Guest stdout and stderr reach the host's stderr, prefixed.
    let (status, _, _) = server.get("/p/?op=log").await;
    assert_eq!(status, 200);
    server.wait_for_output("[probe] probe stdout line").await;
    server.wait_for_output("[probe] probe stderr line").await;

    let output = server.output();
    assert!(
        output.contains(&format!("probe: {base}/probe/:id (wildcard)")),
        "{output}"
    );
    assert!(
        output.contains(&format!("probe: {base}/route/exact")),
        "{output}"
    );
    assert!(
        !output.contains(&token),
        "the secret is never printed:\n{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_to_start_without_a_required_variable() {
    build_probe().await;
    let output = Command::new(env!("CARGO_BIN_EXE_spintemp-host"))
        .arg("--manifest")
        .arg(manifest_for_tests())
        .args(["--listen", "127.0.0.1:0", "--variable"])
        .arg(format!("db_url={}", pg_admin_url()))
        .env_remove("SPIN_VARIABLE_PROBE_TOKEN")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("probe_token"), "{stderr}");
}
