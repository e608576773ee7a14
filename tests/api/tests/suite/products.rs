//! Products: the customers' path with a hierarchy level; and what a
//! promotion's hold on a product means for deleting it.

use api_tests::{app, block_on, error_fields, request_id, unique_code, TestApp};
use serde_json::{json, Value};

pub fn product(code: &str) -> Value {
    json!({"code": code, "name": "Rubber duck", "hierarchyLevel": "sku", "extraFields": {"colour": "yellow"}})
}

/// A new product, its id.
pub async fn new_product(app: &TestApp, token: &str) -> String {
    let res = app
        .call("POST", "/api/products")
        .bearer(token)
        .json(&product(&unique_code("p")))
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    res.json()["id"].as_str().unwrap().to_owned()
}

#[test]
fn a_product_is_created_read_replaced_and_deleted_with_its_audit_events() {
    block_on(async {
        let app = app().await;
        let (user, token) = app.token(false).await;
        let code = unique_code("duck");
        let rid = request_id();
        let res = app
            .call("POST", "/api/products")
            .bearer(&token)
            .header("x-request-id", &rid)
            .json(&product(&code))
            .send()
            .await;
        assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
        let created = res.json();
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(
            res.header("location"),
            Some(format!("/api/products/{id}").as_str())
        );
        assert_eq!(res.header("etag"), Some("\"1\""));
        assert_eq!(created["hierarchyLevel"], "sku");
        assert_eq!(created["extraFields"], json!({"colour": "yellow"}));
        assert_eq!(created["createdBy"], user.to_string());
        let events = app.outbox_for_request(&rid).await;
        assert_eq!(events.len(), 1);
        assert_eq!(
            (events[0].object_type.as_str(), events[0].operation.as_str()),
            ("product", "products-create")
        );
        assert_eq!(events[0].after.as_ref(), Some(&created));

        let got = app
            .call("GET", &format!("/api/products/{id}"))
            .bearer(&token)
            .send()
            .await;
        assert_eq!(got.status, 200);
        assert_eq!(got.json(), created);
        assert!(
            app.cached("product", &id).await.is_some(),
            "a read fills the cache"
        );

        let mut changed = created.clone();
        changed["hierarchyLevel"] = json!("cat");
        let rid = request_id();
        let res = app
            .call("PUT", &format!("/api/products/{id}"))
            .bearer(&token)
            .header("if-match", "\"1\"")
            .header("x-request-id", &rid)
            .json(&changed)
            .send()
            .await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        assert_eq!(res.json()["hierarchyLevel"], "cat");
        assert_eq!(res.header("etag"), Some("\"2\""));
        assert!(
            app.cached("product", &id).await.is_none(),
            "a write invalidates the cache"
        );
        let event = &app.outbox_for_request(&rid).await[0];
        assert_eq!(event.before.as_ref().unwrap()["hierarchyLevel"], "sku");
        assert_eq!(event.after.as_ref().unwrap()["hierarchyLevel"], "cat");

        // A stale If-Match changes nothing.
        app.call("PUT", &format!("/api/products/{id}"))
            .bearer(&token)
            .header("if-match", "\"1\"")
            .json(&changed)
            .send()
            .await
            .problem(412);

        let res = app
            .call("DELETE", &format!("/api/products/{id}"))
            .bearer(&token)
            .header("if-match", "\"2\"")
            .send()
            .await;
        assert_eq!(res.status, 204);
        app.call("GET", &format!("/api/products/{id}"))
            .bearer(&token)
            .send()
            .await
            .problem(404);
    })
}

#[test]
fn a_product_needs_a_hierarchy_level_and_a_free_code() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let res = app
            .call("POST", "/api/products")
            .bearer(&token)
            .json(&json!({"code": "bad code", "name": "Duck", "hierarchyLevel": "x".repeat(51)}))
            .send()
            .await;
        assert_eq!(error_fields(&res.problem(422)), ["code", "hierarchyLevel"]);

        let code = unique_code("taken");
        let first = app
            .call("POST", "/api/products")
            .bearer(&token)
            .json(&product(&code))
            .send()
            .await;
        assert_eq!(first.status, 201);
        let again = app
            .call("POST", "/api/products")
            .bearer(&token)
            .json(&product(&code.to_uppercase()))
            .send()
            .await;
        assert!(again.problem(409)["detail"]
            .as_str()
            .unwrap()
            .contains("code"));
    })
}

#[test]
fn products_are_filtered_by_level_and_code() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let level = unique_code("lvl");
        let mut ids = Vec::new();
        for _ in 0..3 {
            let mut body = product(&unique_code("f"));
            body["hierarchyLevel"] = json!(level);
            let res = app
                .call("POST", "/api/products")
                .bearer(&token)
                .json(&body)
                .send()
                .await;
            ids.push(res.json()["id"].as_str().unwrap().to_owned());
        }
        let page = app
            .call(
                "GET",
                &format!("/api/products?hierarchyLevel={level}&limit=2"),
            )
            .bearer(&token)
            .send()
            .await;
        assert_eq!(page.status, 200);
        let body = page.json();
        let got: Vec<&str> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        assert_eq!(got, ids[..2]);
        let next = body["nextCursor"].as_str().unwrap();
        let rest = app
            .call(
                "GET",
                &format!("/api/products?hierarchyLevel={level}&limit=2&cursor={next}"),
            )
            .bearer(&token)
            .send()
            .await
            .json();
        assert_eq!(rest["items"][0]["id"], ids[2]);
        assert!(rest["nextCursor"].is_null());

        app.call("GET", "/api/products?hierarchyLevel=")
            .bearer(&token)
            .send()
            .await
            .problem(400);
        app.call("GET", "/api/products?colour=red")
            .bearer(&token)
            .send()
            .await
            .problem(400);
    })
}

/// A cache entry that is not a record (written by something else) is not
/// served, and does not make the read fail: Postgres answers.
#[test]
fn a_cache_entry_that_is_not_a_record_is_read_again_from_postgres() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let id = new_product(app, &token).await;
        let far = chrono::Utc::now().timestamp() + 3600;
        app.put_cache_entry("product", &id, far, b"{\"not\": \"a record\"}")
            .await;
        let res = app
            .call("GET", &format!("/api/products/{id}"))
            .bearer(&token)
            .send()
            .await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        assert_eq!(res.json()["id"], id.as_str());
        assert_eq!(res.header("etag"), Some("\"1\""));
        let cached = app.cached("product", &id).await.unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&cached).unwrap()["id"],
            id.as_str()
        );
    })
}
