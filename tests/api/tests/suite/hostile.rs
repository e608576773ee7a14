//! Malformed and hostile input gets a clear 4xx, never a 5xx, and writes
//! nothing.

use api_tests::{app, block_on, request_id, unique_code};
use serde_json::json;

#[test]
fn malformed_bodies_are_4xx_and_write_nothing() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let big = format!(
            "{{\"code\":\"big\",\"name\":\"{}\"}}",
            "x".repeat(70 * 1024)
        );
        let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
            ("not json", "application/json", b"{\"code\": ".to_vec(), 400),
            (
                "json with trailing junk",
                "application/json",
                b"{\"code\":\"a\",\"name\":\"b\"} x".to_vec(),
                400,
            ),
            (
                "invalid utf-8",
                "application/json",
                vec![b'{', b'"', 0xff, 0xfe, b'"', b'}'],
                400,
            ),
            ("empty body", "application/json", vec![], 400),
            ("a list", "application/json", b"[1,2,3]".to_vec(), 422),
            (
                "a string",
                "application/json",
                b"\"customer\"".to_vec(),
                422,
            ),
            ("null", "application/json", b"null".to_vec(), 422),
            (
                "form",
                "application/x-www-form-urlencoded",
                b"code=a&name=b".to_vec(),
                415,
            ),
            (
                "text",
                "text/plain",
                b"{\"code\":\"a\",\"name\":\"b\"}".to_vec(),
                415,
            ),
            ("oversized", "application/json", big.into_bytes(), 413),
            (
                "wrong types",
                "application/json",
                br#"{"code": 5, "name": ["x"], "extraFields": {"a": 1}, "validFrom": 1}"#.to_vec(),
                422,
            ),
            (
                "nul in text",
                "application/json",
                br#"{"code": "a", "name": "x\u0000y"}"#.to_vec(),
                422,
            ),
            (
                "nul in extraFields",
                "application/json",
                br#"{"code": "a", "name": "x", "extraFields": {"k\u0000": "v"}}"#.to_vec(),
                422,
            ),
            (
                "year 10000",
                "application/json",
                br#"{"code": "a", "name": "x", "validThru": "10000-01-01T00:00:00Z"}"#.to_vec(),
                422,
            ),
            (
                "deep nesting",
                "application/json",
                format!(
                    "{{\"code\":\"a\",\"name\":\"b\",\"extraFields\":{{\"x\":{}{}}}}}",
                    "[".repeat(200),
                    "]".repeat(200)
                )
                .into_bytes(),
                400,
            ),
        ];
        for (why, content_type, body, status) in cases {
            for (method, path) in [
                ("POST", "/api/customers".to_owned()),
                ("PUT", format!("/api/customers/{}", uuid::Uuid::now_v7())),
            ] {
                let rid = request_id();
                let res = app
                    .call(method, &path)
                    .bearer(&token)
                    .header("x-request-id", &rid)
                    .body_bytes(content_type, body.clone())
                    .send()
                    .await;
                res.problem(status);
                assert!(app.outbox_for_request(&rid).await.is_empty(), "{why}");
            }
        }
    })
}

#[test]
fn malformed_ids_are_404() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        for id in [
            "42",
            "not-a-uuid",
            "00000000-0000-0000-0000-00000000000g",
            "%27%20OR%201%3D1",
            "..",
            "%00",
        ] {
            for method in ["GET", "PUT", "DELETE"] {
                let res = app
                    .call(method, &format!("/api/customers/{id}"))
                    .bearer(&token)
                    .json(&json!({"code": "a", "name": "b"}))
                    .send()
                    .await;
                assert!(res.status == 404, "{method} {id}: {}", res.status);
                res.problem(404);
            }
        }
    })
}

#[test]
fn hostile_strings_are_stored_verbatim() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let name = "Robert'); DROP TABLE customers;-- <script>alert(1)</script> \u{202e}ü😀 %_\\";
        let res = app.create_customer(&token, &json!({"code": unique_code("evil"), "name": name, "extraFields": {"$where": "1=1", "__proto__": {"x": 1}}})).await;
        assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
        let id = res.json()["id"].as_str().unwrap().to_owned();
        let got = app
            .call("GET", &format!("/api/customers/{id}"))
            .bearer(&token)
            .send()
            .await;
        assert_eq!(got.json()["name"], name);
        assert_eq!(got.json()["extraFields"]["__proto__"]["x"], 1);
        let list = app
            .call("GET", "/api/customers?q=DROP%20TABLE")
            .bearer(&token)
            .send()
            .await;
        assert_eq!(list.status, 200);
        assert!(list.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.as_str()));
    })
}

#[test]
fn request_ids_are_echoed_when_sane_and_replaced_otherwise() {
    block_on(async {
        let app = app().await;
        let res = app
            .call("GET", "/api/customers")
            .header("x-request-id", "abc-123")
            .send()
            .await;
        assert_eq!(res.header("x-request-id"), Some("abc-123"));
        let res = app
            .call("GET", "/api/customers")
            .header("x-request-id", "bad id; with spaces")
            .send()
            .await;
        let id = res.header("x-request-id").unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
        let res = app.call("GET", "/api/customers").send().await;
        assert!(res.header("x-request-id").is_some());
    })
}

#[test]
fn unknown_routes_and_methods_are_problems() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        app.call("GET", "/api/nothing-here")
            .bearer(&token)
            .send()
            .await
            .problem(404);
        app.call("GET", "/api/customers/a/b")
            .bearer(&token)
            .send()
            .await
            .problem(404);
        let res = app
            .call("PATCH", &format!("/api/customers/{}", uuid::Uuid::now_v7()))
            .bearer(&token)
            .send()
            .await;
        res.problem(405);
        assert_eq!(res.header("allow"), Some("GET, PUT, DELETE"));
        let res = app
            .call("DELETE", "/api/customers")
            .bearer(&token)
            .send()
            .await;
        res.problem(405);
        assert_eq!(res.header("allow"), Some("GET, POST"));
    })
}

#[test]
fn the_openapi_document_is_served_without_a_token() {
    block_on(async {
        let app = app().await;
        let res = app.call("GET", "/api/openapi.json").send().await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("content-type"), Some("application/json"));
        let doc = res.json();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/api/customers/{id}"]["put"].is_object());
        app.call("POST", "/api/openapi.json")
            .send()
            .await
            .problem(405);
    })
}

/// Found by tests/fuzz: each of these once answered 500.
#[test]
fn edge_values_found_by_fuzzing_are_4xx_or_served() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let (_, admin) = app.token(true).await;
        // A default validThru a year after 9999-06-01 would be year 10000.
        let res = app.create_customer(&token, &json!({"code": unique_code("far"), "name": "x", "validFrom": "9999-06-01T00:00:00Z"})).await;
        assert_eq!(res.problem(422)["errors"][0]["field"], "validFrom");
        // jsonb would store it, then fail to give it back on every read.
        let res = app.create_customer(&token, &json!({"code": unique_code("huge"), "name": "x", "extraFields": {"n": 1.7976931348623157e308}})).await;
        assert_eq!(res.problem(422)["errors"][0]["field"], "extraFields");
        // A well-formed audit cursor far outside Postgres's years.
        let res = app
            .call("GET", "/api/audit?cursor=f_______________________________")
            .bearer(&admin)
            .send()
            .await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    })
}
