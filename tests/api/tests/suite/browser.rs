//! The web UI in a real browser: the app (with an audit relay, since the UI
//! shows audit history) on its own database, served on a real TCP port, and
//! `node web/tests/e2e.mjs` driving a headless Chromium through it as an
//! administrator. Screenshots go to `target/ui-screenshots/`.
//!
//! Needs Node.js, the web packages (`npm ci` in web/, which the component
//! build runs through scripts/build-web.sh) and Chromium (`CHROMIUM`, default
//! /usr/bin/chromium). Without them it fails and says what to install: it
//! never passes without having run.

use api_tests::{block_on, workspace_root, TestApp};
use audit_relay::Config;
use serde_json::json;
use spintemp_admin::users::{NewUser, OnDuplicate, Outcome};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

const DB: &str = "spintemp_test_browser";
const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "browser test password";
/// The whole browser run, not counting the build.
const TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn the_web_ui_works_in_a_real_browser() {
    let node = node_or_fail();
    let chromium = chromium_or_fail();
    block_on(async {
        let app = TestApp::start_in(DB, &[]).await.expect("starting the app");
        let root = workspace_root().canonicalize().unwrap();
        let script = root.join("web/tests/e2e.mjs");
        web_packages_or_fail(&root.join("web"));

        let db_url = api_tests::db_url_for(DB);
        let tag = uuid::Uuid::now_v7().simple().to_string();
        let mut config = Config::with_urls(
            // The outbox as the relay's own role; the store as its owner.
            &api_tests::relay_url(&db_url),
            &db_url,
            "nats://127.0.0.1:4222",
        );
        let stream = format!("BROWSER_{tag}");
        config.stream = stream.clone();
        config.subject_prefix = format!("browser{tag}");
        config.listen = "127.0.0.1:0".parse().unwrap();
        let shutdown = CancellationToken::new();
        let relay = audit_relay::start(config, shutdown.clone())
            .await
            .expect("starting the audit relay");

        let admin = create_admin(&app).await;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn({
            let app = app.app.clone();
            async move { app.serve(listener).await }
        });

        let screenshots = root.join("target/ui-screenshots");
        let _ = std::fs::remove_dir_all(&screenshots);
        eprintln!(
            "browser: {base_url}, admin {ADMIN_EMAIL} ({admin}), screenshots in {}",
            screenshots.display()
        );
        let started = Instant::now();
        let outcome = run_e2e(
            &node,
            &script,
            &root.join("web"),
            &[
                ("BASE_URL", base_url.as_str()),
                ("ADMIN_EMAIL", ADMIN_EMAIL),
                ("ADMIN_PASSWORD", ADMIN_PASSWORD),
                ("SCREENSHOT_DIR", screenshots.to_str().unwrap()),
                ("CHROMIUM", chromium.to_str().unwrap()),
            ],
        )
        .await;
        eprintln!(
            "browser: e2e.mjs took {:.1}s",
            started.elapsed().as_secs_f64()
        );

        server.abort();
        shutdown.cancel();
        let _ = relay.wait().await;
        if let Ok(nats) = async_nats::connect("nats://127.0.0.1:4222").await {
            let _ = async_nats::jetstream::new(nats)
                .delete_stream(&stream)
                .await;
        }
        if let Err(failure) = outcome {
            panic!("{failure}");
        }
    })
}

/// An administrator made as `spintemp-admin user create --admin` makes one
/// (the API's rules, its audit event), checked through the API: it can log
/// in, and its record reads back. Returns its id.
async fn create_admin(app: &TestApp) -> uuid::Uuid {
    let user = NewUser {
        email: ADMIN_EMAIL.to_owned(),
        first_name: "Ada".to_owned(),
        last_name: "Admin".to_owned(),
        company: None,
        admin: true,
    };
    let mut conn = app.db.acquire().await.unwrap();
    let outcome = spintemp_admin::users::create(
        &mut conn,
        &user,
        OnDuplicate::Fail,
        &api_tests::request_id(),
        || Ok(ADMIN_PASSWORD.to_owned()),
    )
    .await
    .expect("creating the administrator");
    drop(conn);
    let Outcome::Created(id) = outcome else {
        panic!("the administrator existed already: {outcome:?}")
    };

    let login = app
        .call("POST", "/api/auth/login")
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await;
    assert_eq!(
        login.status,
        200,
        "login: {}",
        String::from_utf8_lossy(&login.body)
    );
    let token = login.json()["accessToken"].as_str().unwrap().to_owned();
    let record = app
        .call("GET", &format!("/api/users/{id}"))
        .bearer(&token)
        .send()
        .await;
    assert_eq!(
        record.status,
        200,
        "{}",
        String::from_utf8_lossy(&record.body)
    );
    let record = record.json();
    assert_eq!(record["email"], ADMIN_EMAIL);
    assert_eq!(record["admin"], true);
    assert_eq!(record["active"], true);
    id
}

/// Runs the script, its output streamed line by line (and kept for the
/// failure message); an error when it fails or outlasts [`TIMEOUT`].
async fn run_e2e(
    node: &Path,
    script: &Path,
    dir: &Path,
    env: &[(&str, &str)],
) -> Result<(), String> {
    let mut command = tokio::process::Command::new(node);
    command
        .arg(script)
        .current_dir(dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run {} {}: {e}", node.display(), script.display()))?;
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut output = String::new();
    let run = async {
        let (mut out_open, mut err_open) = (true, true);
        while out_open || err_open {
            let (from_stdout, line) = tokio::select! {
                line = stdout.next_line(), if out_open => (true, line),
                line = stderr.next_line(), if err_open => (false, line),
            };
            match line {
                Ok(Some(line)) => {
                    // The test's own output, so `cargo test` shows it on failure
                    // and `--nocapture` as it comes.
                    eprintln!("{line}");
                    output.push_str(&line);
                    output.push('\n');
                }
                Ok(None) | Err(_) if from_stdout => out_open = false,
                Ok(None) | Err(_) => err_open = false,
            }
        }
        child.wait().await
    };
    match tokio::time::timeout(TIMEOUT, run).await {
        Err(_) => Err(format!(
            "web/tests/e2e.mjs did not finish within {}s; its output:\n{output}",
            TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => Err(format!("waiting for node: {e}; output:\n{output}")),
        Ok(Ok(status)) if !status.success() => Err(format!(
            "web/tests/e2e.mjs failed ({status}); its output:\n{output}"
        )),
        Ok(Ok(_)) => Ok(()),
    }
}

/// `node`, version 20 or later, or a failure that says what to install.
fn node_or_fail() -> PathBuf {
    const INSTALL: &str = "the browser tests need Node.js 20+ and npm: \
        install them (Debian/Ubuntu: `apt-get install nodejs npm`; .ci/run does)";
    let output = std::process::Command::new("node")
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{INSTALL} (running `node --version`: {e})"));
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        output.status.success() && major >= 20,
        "{INSTALL} (found node {version:?})"
    );
    PathBuf::from("node")
}

/// The browser (`CHROMIUM`, default /usr/bin/chromium), or a failure that
/// says what to install.
fn chromium_or_fail() -> PathBuf {
    let chromium =
        PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()));
    assert!(
        chromium.is_file(),
        "the browser tests need Chromium at {}: install it (Debian/Ubuntu: \
         `apt-get install chromium`; .ci/run does) or point CHROMIUM at one",
        chromium.display()
    );
    chromium
}

/// web/node_modules with what e2e.mjs imports, or a failure that says how to
/// install it.
fn web_packages_or_fail(web: &Path) {
    for package in ["playwright-core", "axe-core"] {
        assert!(
            web.join("node_modules")
                .join(package)
                .join("package.json")
                .is_file(),
            "the browser tests need the web packages ({package} is missing from {}): \
             run scripts/build-web.sh (or `npm ci` in web/)",
            web.join("node_modules").display()
        );
    }
}
