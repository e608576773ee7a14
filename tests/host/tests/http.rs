//! Routing, the `spin-*` headers, service chaining, outbound HTTP permissions
//! and the instance lifecycle.

mod common;

use std::convert::Infallible;

use bytes::Bytes;
use common::{echoed_header, get, load_app, manifest_for_tests, options, pg_admin_url, probe};
use serde_json::{json, Value};
use spintemp_host::App;

async fn echo(app: &App, uri: &str) -> Value {
    let res = get(app, uri).await;
    assert_eq!(res.status(), 200, "{uri}: {}", res.status());
    serde_json::from_slice(res.body()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn request_headers_match_spin() {
    let app = load_app(&pg_admin_url(), &[]).await;
    let req = http::Request::get("http://127.0.0.1:3911/probe/42/rest/of?q=1")
        .header("x-client-header", "kept")
        .body(Bytes::new())
        .unwrap();
    let res = app.handle(req).await.unwrap();
    let echo: Value = serde_json::from_slice(res.body()).unwrap();
    let h = |name| echoed_header(&echo, name);
    assert_eq!(h("spin-path-match-id"), Some("42"));
    assert_eq!(h("spin-path-info"), Some("/rest/of"));
    assert_eq!(h("spin-matched-route"), Some("/probe/:id/..."));
    assert_eq!(h("spin-raw-component-route"), Some("/probe/:id/..."));
    assert_eq!(h("spin-component-route"), Some("/probe/:id"));
    assert_eq!(
        h("spin-full-url"),
        Some("http://127.0.0.1:3911/probe/42/rest/of?q=1")
    );
    assert_eq!(h("spin-base-path"), Some("/"));
    assert_eq!(h("spin-client-addr"), Some("127.0.0.1:0"));
    assert_eq!(h("x-client-header"), Some("kept"));
    assert_eq!(h("host"), None, "Host is a forbidden header for the guest");
    assert_eq!(echo["path"], "/probe/42/rest/of");
    assert_eq!(echo["query"], "q=1");
}

#[tokio::test(flavor = "multi_thread")]
async fn routing_precedence() {
    let app = load_app(&pg_admin_url(), &[]).await;
    for (path, matched, path_info) in [
        ("/route/exact", "/route/exact", ""),
        ("/route/exact/more", "/route/...", "/exact/more"),
        ("/route", "/route/...", ""),
        ("/route/", "/route/...", "/"),
        ("/route/other", "/route/...", "/other"),
        ("/route/deep/a/b", "/route/deep/...", "/a/b"),
        ("/route/item/abc", "/route/item/:name", ""),
    ] {
        let echo = echo(&app, path).await;
        assert_eq!(
            echoed_header(&echo, "spin-matched-route"),
            Some(matched),
            "{path}"
        );
        assert_eq!(
            echoed_header(&echo, "spin-path-info"),
            Some(path_info),
            "{path}"
        );
    }
    let item = echo(&app, "/route/item/abc").await;
    assert_eq!(echoed_header(&item, "spin-path-match-name"), Some("abc"));

    for unmatched in ["/", "/nothing", "/rout", "/.well-known/spin/nope"] {
        let res = get(&app, unmatched).await;
        assert_eq!(res.status(), 404, "{unmatched}");
        assert!(res.body().is_empty(), "{unmatched}");
    }
    let health = get(&app, "/.well-known/spin/health").await;
    assert_eq!(
        (health.status().as_u16(), health.body().as_ref()),
        (200, &b"OK"[..])
    );

    let routes = app.routes();
    assert!(
        routes.contains(&("probe".into(), "/probe/:id (wildcard)".into())),
        "{routes:?}"
    );
    assert!(
        routes.contains(&("probe".into(), "/route/exact".into())),
        "{routes:?}"
    );
    assert!(
        routes.iter().all(|(id, _)| id != "probe-private"),
        "private components have no route: {routes:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_cannot_pose_as_a_chained_request() {
    let app = load_app(&pg_admin_url(), &[]).await;
    // The Host header naming a component is dropped (as Spin does); with no
    // authority left the request is refused instead of reaching a component.
    let req = http::Request::get("/p/")
        .header("host", "probe-private.spin.internal")
        .body(Bytes::new())
        .unwrap();
    assert!(app.handle(req).await.is_err());
}

async fn outbound(app: &App, caller: &str, url: &str) -> Value {
    probe(
        app,
        &format!("{caller}?op=http"),
        json!({ "url": url, "headers": [["x-from", "caller"]], "method": "POST", "body": "ping" }),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn service_chaining_runs_the_private_component() {
    let app = load_app(&pg_admin_url(), &[]).await;
    let answer = outbound(
        &app,
        "/p/",
        "http://probe-private.spin.internal/chained/path?x=1",
    )
    .await;
    assert_eq!(answer["ok"]["status"], 200, "{answer}");
    let chained: Value = serde_json::from_str(answer["ok"]["body"].as_str().unwrap()).unwrap();
    let h = |name| echoed_header(&chained, name);
    assert_eq!(h("spin-path-info"), Some("/chained/path"));
    assert_eq!(h("spin-matched-route"), Some("/..."));
    assert_eq!(h("spin-raw-component-route"), Some("/..."));
    assert_eq!(h("spin-component-route"), Some(""));
    assert_eq!(h("spin-client-addr"), Some("0.0.0.0:0"));
    assert_eq!(
        h("spin-full-url"),
        Some("http://localhost/chained/path?x=1")
    );
    assert_eq!(h("x-from"), Some("caller"));
    assert_eq!(chained["method"], "Method::Post");
    assert_eq!(chained["body"], "ping");

    // The chained instance reads its own variables, not the caller's.
    let answer = outbound(
        &app,
        "/wild/",
        "http://probe-private.spin.internal/?op=var&name=private_only",
    )
    .await;
    let var: Value = serde_json::from_str(answer["ok"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(var["ok"], "only the private component sees this");
}

#[tokio::test(flavor = "multi_thread")]
async fn service_chaining_needs_permission() {
    let app = load_app(&pg_admin_url(), &[]).await;
    for (caller, url) in [
        ("/nopg/", "http://probe-private.spin.internal/"),
        ("/p/", "http://probe-nopg.spin.internal/"),
        ("/p/", "https://probe-private.spin.internal/"),
    ] {
        let answer = outbound(&app, caller, url).await;
        let debug = answer["err"]["debug"].as_str().unwrap_or_default();
        assert!(
            debug.contains("HttpRequestDenied"),
            "{caller} -> {url}: {answer}"
        );
    }
    // A wildcard permits every component...
    let answer = outbound(
        &app,
        "/wild/",
        "http://probe-nopg.spin.internal/?op=counter",
    )
    .await;
    assert_eq!(answer["ok"]["status"], 200, "{answer}");
    // ...and chaining to a component that does not exist traps the caller.
    let res = app
        .handle(
            http::Request::post("/wild/?op=http")
                .body(Bytes::from(
                    json!({ "url": "http://nope.spin.internal/" }).to_string(),
                ))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
}

/// A local HTTP server answering `pong`, for allowed outbound requests.
async fn pong_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let body = format!("pong {}", req.uri().path());
                        Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(
                            Bytes::from(body),
                        )))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_http_obeys_allowed_hosts() {
    let pong = pong_server().await;
    let echo_host = pong.to_string();
    let app = load_app(&pg_admin_url(), &[("echo_host", &echo_host)]).await;

    let answer = outbound(&app, "/p/", &format!("http://{pong}/ping")).await;
    assert_eq!(answer["ok"]["status"], 200, "{answer}");
    assert_eq!(answer["ok"]["body"], "pong /ping");

    for denied in [
        "http://example.invalid/".to_string(),
        format!("https://{pong}/ping"),
        format!("http://127.0.0.1:{}/ping", pong.port().wrapping_add(1)),
    ] {
        let answer = outbound(&app, "/p/", &denied).await;
        let debug = answer["err"]["debug"].as_str().unwrap_or_default();
        assert!(debug.contains("HttpRequestDenied"), "{denied}: {answer}");
    }
    // The same host from a component that does not list it.
    let answer = outbound(&app, "/nopg/", &format!("http://{pong}/ping")).await;
    assert!(answer["err"]["debug"]
        .as_str()
        .unwrap_or_default()
        .contains("HttpRequestDenied"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_gets_a_fresh_instance() {
    let app = load_app(&pg_admin_url(), &[]).await;
    for _ in 0..3 {
        let answer = probe(&app, "/p/?op=counter", Value::Null).await;
        assert_eq!(answer["invocations"], 1);
    }
    let concurrent = futures_join(&app, 8).await;
    assert!(
        concurrent.iter().all(|v| v["invocations"] == 1),
        "{concurrent:?}"
    );
}

async fn futures_join(app: &App, n: usize) -> Vec<Value> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { probe(&app, "/p/?op=counter", Value::Null).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trapping_guest_is_a_500_with_empty_body() {
    let app = load_app(&pg_admin_url(), &[]).await;
    let res = get(&app, "/p/?op=trap").await;
    assert_eq!(res.status(), 500);
    assert!(res.body().is_empty());
    // The next request gets a healthy instance.
    assert_eq!(
        probe(&app, "/p/?op=counter", Value::Null).await["invocations"],
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_component_says_to_build_first() {
    common::build_probe().await;
    let dir = std::env::temp_dir().join(common::unique("spintemp_host_missing"));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("spin.toml");
    std::fs::write(
        &manifest,
        r#"
        spin_manifest_version = 2
        [application]
        name = "missing"
        [[trigger.http]]
        route = "/..."
        component = "gone"
        [component.gone]
        source = "target/wasm32-wasip2/release/gone.wasm"
        "#,
    )
    .unwrap();
    let err = App::load(&manifest, Default::default())
        .await
        .err()
        .expect("load fails");
    let message = format!("{err:#}");
    assert!(message.contains("build the components first"), "{message}");
    assert!(message.contains("gone.wasm"), "{message}");
    let _ = std::fs::remove_dir_all(dir);
    // The fixture itself loads (the probe is built).
    App::load(manifest_for_tests(), options(&pg_admin_url(), &[]))
        .await
        .unwrap();
}
