//! Shared test helpers: build the probe fixture once, load the fixture app,
//! send probe requests, and throwaway Postgres databases / Redis keys.

#![allow(dead_code)]

use std::path::PathBuf;

use bytes::Bytes;
use serde_json::Value;
use spintemp_host::{App, HostOptions};
use tokio::sync::OnceCell;

/// Admin URL of the test Postgres (trust auth, local: no TLS).
pub fn pg_admin_url() -> String {
    std::env::var("SPINTEMP_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".into())
}

pub fn redis_url() -> String {
    std::env::var("SPINTEMP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixture_manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/spin.toml")
}

/// A random lowercase suffix for names shared with other tests.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{:016x}", rand::random::<u64>())
}

/// Builds `host-probe` for wasm32-wasip2 once per test process (cargo itself
/// makes concurrent processes wait for each other).
pub async fn build_probe() {
    static BUILD: OnceCell<()> = OnceCell::const_new();
    BUILD
        .get_or_init(|| async {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = tokio::process::Command::new(cargo)
                .current_dir(workspace_root())
                .args([
                    "build",
                    "--target",
                    "wasm32-wasip2",
                    "--release",
                    "-p",
                    "host-probe",
                ])
                .status()
                .await
                .expect("running cargo build for host-probe");
            assert!(status.success(), "building host-probe failed");
        })
        .await;
}

/// The manifest to load: the fixture, or a copy pointing at the probe in
/// `CARGO_TARGET_DIR` when the target directory is not the default one.
pub fn manifest_for_tests() -> PathBuf {
    let fixture = fixture_manifest();
    let Ok(target_dir) = std::env::var("CARGO_TARGET_DIR") else {
        return fixture;
    };
    let text = std::fs::read_to_string(&fixture).unwrap().replace(
        "../../../target/",
        &format!(
            "{}/",
            PathBuf::from(target_dir).canonicalize().unwrap().display()
        ),
    );
    let dir = std::env::temp_dir().join(unique("spintemp_host_fixture"));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("spin.toml");
    std::fs::write(&copy, text).unwrap();
    copy
}

/// Values for the fixture's required variables, plus `extra`.
pub fn options(db_url: &str, extra: &[(&str, &str)]) -> HostOptions {
    let mut variables = vec![
        ("db_url".to_string(), db_url.to_string()),
        ("probe_token".to_string(), "s3cr3t-probe-token".to_string()),
    ];
    variables.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    HostOptions {
        variables,
        ..HostOptions::default()
    }
}

/// Loads the fixture app with the probe built.
pub async fn load_app(db_url: &str, extra: &[(&str, &str)]) -> App {
    build_probe().await;
    App::load(manifest_for_tests(), options(db_url, extra))
        .await
        .expect("loading the fixture app")
}

pub async fn get(app: &App, uri: &str) -> http::Response<Bytes> {
    let req = http::Request::get(uri).body(Bytes::new()).unwrap();
    app.handle(req).await.expect("handling request")
}

/// POSTs `body` to the probe and parses its JSON answer.
pub async fn probe(app: &App, uri: &str, body: Value) -> Value {
    let req = http::Request::post(uri)
        .header("content-type", "application/json")
        .body(Bytes::from(body.to_string()))
        .unwrap();
    let res = app.handle(req).await.expect("handling request");
    assert_eq!(
        res.status(),
        200,
        "probe answered {}: {}",
        res.status(),
        String::from_utf8_lossy(res.body())
    );
    serde_json::from_slice(res.body()).expect("probe answers JSON")
}

/// A header's value in the probe's echo (`headers: [[name, value]]`).
pub fn echoed_header<'a>(echo: &'a Value, name: &str) -> Option<&'a str> {
    echo["headers"]
        .as_array()?
        .iter()
        .find(|h| h[0].as_str() == Some(name))
        .and_then(|h| h[1].as_str())
}

/// A database that exists for one test and is dropped afterwards (even when
/// the test panics).
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub async fn create() -> Self {
        let name = unique("spintemp_host_test");
        let (client, connection) = tokio_postgres::connect(&pg_admin_url(), tokio_postgres::NoTls)
            .await
            .expect("connecting to the test Postgres");
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("creating the test database");
        Self { name }
    }

    /// The URL a component uses (local server: no TLS).
    pub fn url(&self) -> String {
        let admin = pg_admin_url();
        let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
        let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
        format!("{base}/{}?{query}", self.name)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside a runtime; use a separate thread and runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok((client, connection)) =
                    tokio_postgres::connect(&pg_admin_url(), tokio_postgres::NoTls).await
                {
                    tokio::spawn(connection);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}
