//! Dependencies down, and the least-privilege boundary.

use api_tests::{
    app, block_on, borrowed, request_id, role_variables, unique_code, TestApp, DB_NAME,
};
use serde_json::json;

#[test]
fn health_reports_each_dependency() {
    block_on(async {
        let app = app().await;
        // A replica reports the cache up once it has answered it: the first
        // health check of one that never called it probes it after answering.
        let mut res = app.call("GET", "/api/health").send().await;
        for _ in 0..20 {
            if res.json()["status"] == "ok" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            res = app.call("GET", "/api/health").send().await;
        }
        assert_eq!(res.status, 200);
        assert_eq!(
            res.json(),
            json!({"status": "ok", "checks": {"postgres": "ok", "cache": "ok"}})
        );
        let res = app.call("POST", "/api/health").send().await;
        res.problem(405);

        // Nothing listens on port 1.
        let nowhere = "postgres://postgres@127.0.0.1:1/x?sslmode=disable";
        let roles = role_variables(nowhere, nowhere);
        let mut overrides = borrowed(&roles);
        overrides.push(("db_host", "127.0.0.1:1"));
        let down = TestApp::launch(DB_NAME, "redis://127.0.0.1:1", &overrides)
            .await
            .unwrap();
        let res = down.call("GET", "/api/health").send().await;
        assert_eq!(res.status, 503);
        assert!(res.header("retry-after").is_some());
        assert_eq!(
            res.json()["checks"],
            json!({"postgres": "down", "cache": "down"})
        );
    })
}

#[test]
fn a_cache_that_is_down_does_not_fail_reads_or_writes() {
    block_on(async {
        let app = TestApp::launch(DB_NAME, "redis://127.0.0.1:1", &[])
            .await
            .unwrap();
        let (_, token) = app.token(false).await;
        let code = unique_code("nored");
        let created = app
            .create_customer(&token, &json!({"code": code, "name": "No Redis"}))
            .await;
        assert_eq!(created.status, 201);
        let path = format!("/api/customers/{}", created.json()["id"].as_str().unwrap());
        let got = app.call("GET", &path).bearer(&token).send().await;
        assert_eq!(got.status, 200);
        assert_eq!(got.json(), created.json());
        let updated = app
            .call("PUT", &path)
            .bearer(&token)
            .json(&json!({"code": code, "name": "Still No Redis"}))
            .send()
            .await;
        assert_eq!(updated.status, 200);
        assert_eq!(
            app.call("DELETE", &path).bearer(&token).send().await.status,
            204
        );
    })
}

/// Spin appends each write of a component to its log as it comes, so a
/// line written in pieces is cut into by whatever concurrent requests write
/// in between (and each piece costs Spin a trip through its blocking
/// threads). Every line the functions log, the request line and the
/// failures alike, goes out in one write.
#[test]
fn every_log_line_is_written_whole() {
    block_on(async {
        // A cache that is down makes the functions log its failures too.
        let app = TestApp::launch(DB_NAME, "redis://127.0.0.1:1", &[])
            .await
            .unwrap();
        let (_, token) = app.token(false).await;
        let created = app
            .create_customer(
                &token,
                &json!({"code": unique_code("logs"), "name": "Logs"}),
            )
            .await;
        assert_eq!(created.status, 201);
        let path = format!("/api/customers/{}", created.json()["id"].as_str().unwrap());
        let before = app.app.log_writes();
        let missing = format!("/api/customers/{}", uuid::Uuid::now_v7());
        for (method, path, token, status) in [
            ("GET", path.as_str(), Some(&token), 200),
            ("GET", path.as_str(), None, 401),
            ("GET", missing.as_str(), Some(&token), 404),
            ("DELETE", path.as_str(), Some(&token), 204),
            ("GET", "/api/health", None, 200),
        ] {
            let call = app.call(method, path);
            let call = match token {
                Some(token) => call.bearer(token),
                None => call,
            };
            assert_eq!(call.send().await.status, status, "{method} {path}");
        }
        let after = app.app.log_writes();
        assert_eq!(after.torn, 0, "writes that ended mid-line: {after:?}");
        assert!(
            after.whole_lines >= before.whole_lines + 5,
            "a line per request at least: {before:?} then {after:?}"
        );
    })
}

#[test]
fn postgres_down_is_503_with_retry_after() {
    block_on(async {
        let nowhere = "postgres://postgres@127.0.0.1:1/x?sslmode=disable";
        let roles = role_variables(nowhere, nowhere);
        let mut overrides = borrowed(&roles);
        overrides.push(("db_host", "127.0.0.1:1"));
        let app = TestApp::start(&overrides).await.unwrap();
        let (_, token) = app.token(false).await;
        for (method, path) in [
            ("GET", "/api/customers".to_owned()),
            ("GET", format!("/api/customers/{}", uuid::Uuid::now_v7())),
            ("POST", "/api/customers".to_owned()),
        ] {
            let res = app
                .call(method, &path)
                .bearer(&token)
                .json(&json!({"code": "a", "name": "b"}))
                .send()
                .await;
            res.problem(503);
            assert!(res.header("retry-after").is_some());
        }
    })
}

#[test]
fn a_database_outside_allowed_outbound_hosts_is_refused() {
    block_on(async {
        // db_url points at a server the manifest does not allow (db_host is
        // still the default): the host must refuse before any connection.
        let elsewhere = format!(
            "postgres://postgres@localhost:5432/{}?sslmode=disable",
            api_tests::DB_NAME
        );
        let roles = role_variables(&elsewhere, &elsewhere);
        let app = TestApp::start(&borrowed(&roles)).await.unwrap();
        let (_, token) = app.token(false).await;
        let rid = request_id();
        let res = app
            .call("POST", "/api/customers")
            .bearer(&token)
            .header("x-request-id", &rid)
            .json(&json!({"code": unique_code("deny"), "name": "Denied"}))
            .send()
            .await;
        assert!(
            res.status >= 500,
            "the write must not succeed: {}",
            res.status
        );
        assert_ne!(
            res.status, 500,
            "a refused connection is reported as unavailable, not a crash"
        );
        assert!(app.outbox_for_request(&rid).await.is_empty());
    })
}
