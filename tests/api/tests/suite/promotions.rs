//! Promotions: discounts kept exactly, references that cannot dangle, the
//! customer's current name, and the four-eyes workflow, races included.

use crate::products::new_product;
use api_tests::{
    app, block_on, error_fields, request_id, statuses_of, unique_code, Reply, TestApp,
};
use serde_json::{json, Value};

async fn new_customer(app: &TestApp, token: &str) -> String {
    let res = app
        .create_customer(
            token,
            &json!({"code": unique_code("c"), "name": "Ducks R Us"}),
        )
        .await;
    assert_eq!(res.status, 201);
    res.json()["id"].as_str().unwrap().to_owned()
}

fn promotion(customer: &str, products: &[&str]) -> Value {
    let lines: Vec<Value> = products
        .iter()
        .map(|p| json!({"productId": p, "discounts": [{"type": "percent", "value": "12.5", "description": "spring"}]}))
        .collect();
    json!({"name": "Spring sale", "customerId": customer, "products": lines,
           "validFrom": "2026-01-01T00:00:00Z", "validThru": "2030-01-01T00:00:00Z"})
}

async fn create(app: &TestApp, token: &str, body: &Value) -> Reply {
    app.call("POST", "/api/promotions")
        .bearer(token)
        .json(body)
        .send()
        .await
}

async fn new_promotion(app: &TestApp, token: &str) -> (String, String, Value) {
    let customer = new_customer(app, token).await;
    let product = new_product(app, token).await;
    let res = create(app, token, &promotion(&customer, &[&product])).await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    let body = res.json();
    (body["id"].as_str().unwrap().to_owned(), customer, body)
}

async fn transition(app: &TestApp, token: &str, id: &str, version: i64, to: &str) -> Reply {
    app.call("POST", &format!("/api/promotions/{id}/transitions"))
        .bearer(token)
        .header("if-match", &format!("\"{version}\""))
        .json(&json!({"to": to, "comment": format!("to {to}")}))
        .send()
        .await
}

#[test]
fn a_promotion_keeps_its_lines_in_order_and_its_values_exact() {
    block_on(async {
        let app = app().await;
        let (user, token) = app.token(false).await;
        let customer = new_customer(app, &token).await;
        let (a, b) = (
            new_product(app, &token).await,
            new_product(app, &token).await,
        );
        let rid = request_id();
        let body = json!({"name": "Spring", "customerId": customer, "products": [
            {"productId": b, "discounts": [{"type": "amount", "value": "9999999999.99"}, {"type": "percent", "value": "100"}]},
            {"productId": a, "discounts": [{"type": "amount", "value": "0.1", "description": "a dime"}]}
        ]});
        let res = app
            .call("POST", "/api/promotions")
            .bearer(&token)
            .header("x-request-id", &rid)
            .json(&body)
            .send()
            .await;
        assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
        let created = res.json();
        assert_eq!(
            created["products"],
            json!([
                {"productId": b, "discounts": [
                    {"type": "amount", "value": "9999999999.99", "description": null},
                    {"type": "percent", "value": "100.00", "description": null}]},
                {"productId": a, "discounts": [{"type": "amount", "value": "0.10", "description": "a dime"}]}
            ])
        );
        assert_eq!(created["customerName"], "Ducks R Us");
        assert_eq!(created["approvalStatus"], "draft");
        assert_eq!(created["prevApprovalStatus"], Value::Null);
        assert_eq!(created["active"], true);
        assert_eq!(created["createdBy"], user.to_string());
        let id = created["id"].as_str().unwrap();
        assert_eq!(
            res.header("location"),
            Some(format!("/api/promotions/{id}").as_str())
        );

        // Postgres holds the values as numerics, not as text or floats.
        let kinds: Vec<(String, String)> = sqlx::query_as(
            "SELECT jsonb_typeof(d->'value'), (d->'value')::text FROM promotions p, \
               jsonb_array_elements(p.products) line, jsonb_array_elements(line->'discounts') d \
             WHERE p.id = $1::uuid",
        )
        .bind(id)
        .fetch_all(&app.db)
        .await
        .unwrap();
        assert_eq!(
            kinds,
            [
                ("number", "9999999999.99"),
                ("number", "100.00"),
                ("number", "0.10")
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );

        let event = &app.outbox_for_request(&rid).await[0];
        assert_eq!(
            (event.object_type.as_str(), event.action.as_str()),
            ("promotion", "create")
        );
        assert_eq!(
            event.after.as_ref().unwrap()["products"],
            created["products"]
        );
        // The audit trail keeps the promotion's own fields; the customer's
        // name is the customer's.
        assert!(event.after.as_ref().unwrap().get("customerName").is_none());

        let got = app
            .call("GET", &format!("/api/promotions/{id}"))
            .bearer(&token)
            .send()
            .await;
        assert_eq!(got.status, 200);
        assert_eq!(got.json(), created);
        assert_eq!(got.header("etag"), Some("\"1\""));
    })
}

#[test]
fn bad_discounts_are_refused_with_their_paths() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let customer = new_customer(app, &token).await;
        let (a, b) = (
            new_product(app, &token).await,
            new_product(app, &token).await,
        );
        let rid = request_id();
        let res = app
            .call("POST", "/api/promotions")
            .bearer(&token)
            .header("x-request-id", &rid)
            .json(&json!({"name": "Bad", "customerId": customer, "products": [
                {"productId": a, "discounts": [{"type": "amount", "value": "0.001"}]},
                {"productId": b, "discounts": [{"type": "percent", "value": 1e2}, {"type": "percent", "value": "1e2"}]},
                {"productId": a, "discounts": [{"type": "percent", "value": "100.5"}]}
            ]}))
            .send()
            .await;
        let problem = res.problem(422);
        assert_eq!(
            error_fields(&problem),
            [
                "products[0].discounts[0].value",
                "products[1].discounts[0].value",
                "products[1].discounts[1].value",
                "products[2].discounts[0].value",
                "products[2].productId",
            ]
        );
        assert!(app.outbox_for_request(&rid).await.is_empty());
    })
}

#[test]
fn references_must_name_records_that_exist_and_are_still_valid() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let customer = new_customer(app, &token).await;
        let (a, b, c) = (
            new_product(app, &token).await,
            new_product(app, &token).await,
            new_product(app, &token).await,
        );
        let nobody = uuid::Uuid::now_v7().to_string();

        let res = create(app, &token, &promotion(&nobody, &[&a, &nobody])).await;
        assert_eq!(
            error_fields(&res.problem(422)),
            ["customerId", "products[1].productId"]
        );

        let (id, body) = {
            let res = create(app, &token, &promotion(&customer, &[&a, &b])).await;
            assert_eq!(res.status, 201);
            let body = res.json();
            (body["id"].as_str().unwrap().to_owned(), body)
        };

        // Product b's validity ends.
        sqlx::query("UPDATE products SET valid_from = now() - interval '2 days', valid_thru = now() - interval '1 day' WHERE id = $1::uuid")
            .bind(&b)
            .execute(&app.db)
            .await
            .unwrap();
        let res = create(app, &token, &promotion(&customer, &[&c, &b])).await;
        let problem = res.problem(422);
        assert_eq!(error_fields(&problem), ["products[1].productId"]);
        assert!(problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("validity"));

        // The promotion that had it keeps it, and may not take it up anew
        // once dropped.
        let mut kept = body.clone();
        kept["name"] = json!("Renamed");
        let res = app
            .call("PUT", &format!("/api/promotions/{id}"))
            .bearer(&token)
            .json(&kept)
            .send()
            .await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        let dropped = promotion(&customer, &[&a]);
        let res = app
            .call("PUT", &format!("/api/promotions/{id}"))
            .bearer(&token)
            .json(&dropped)
            .send()
            .await;
        assert_eq!(res.status, 200);
        let res = app
            .call("PUT", &format!("/api/promotions/{id}"))
            .bearer(&token)
            .json(&promotion(&customer, &[&a, &b]))
            .send()
            .await;
        assert_eq!(error_fields(&res.problem(422)), ["products[1].productId"]);
    })
}

#[test]
fn a_renamed_customer_shows_in_the_next_read_of_a_cached_promotion() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let (id, customer, _) = new_promotion(app, &token).await;
        let path = format!("/api/promotions/{id}");
        assert_eq!(
            app.call("GET", &path).bearer(&token).send().await.json()["customerName"],
            "Ducks R Us"
        );
        assert!(
            app.cached("promotion", &id).await.is_some(),
            "the promotion is cached"
        );

        let res = app
            .call("PUT", &format!("/api/customers/{customer}"))
            .bearer(&token)
            .json(&json!({"code": unique_code("c"), "name": "Geese Galore"}))
            .send()
            .await;
        assert_eq!(res.status, 200);
        assert!(
            app.cached("promotion", &id).await.is_some(),
            "the promotion's entry is still there"
        );
        let got = app.call("GET", &path).bearer(&token).send().await.json();
        assert_eq!(got["customerName"], "Geese Galore");
        let page = app
            .call("GET", &format!("/api/promotions?customerId={customer}"))
            .bearer(&token)
            .send()
            .await
            .json();
        assert_eq!(page["items"][0]["customerName"], "Geese Galore");
        assert_eq!(page["items"][0]["id"], id);
    })
}

#[test]
fn the_workflow_needs_four_eyes_and_only_drafts_change() {
    block_on(async {
        let app = app().await;
        let (_, author) = app.token(false).await;
        let (_, admin) = app.token(true).await;
        let (other_admin_id, other_admin) = app.token(true).await;
        let (id, _, body) = new_promotion(app, &author).await;
        let path = format!("/api/promotions/{id}");

        // Without If-Match: 428. Not a transition from draft: 409 naming
        // the one there is.
        let res = app
            .call("POST", &format!("{path}/transitions"))
            .bearer(&author)
            .json(&json!({"to": "submitted"}))
            .send()
            .await;
        res.problem(428);
        let refused = transition(app, &admin, &id, 1, "approved")
            .await
            .problem(409);
        assert!(
            refused["detail"].as_str().unwrap().contains("submitted"),
            "{refused}"
        );

        let rid = request_id();
        let res = app
            .call("POST", &format!("{path}/transitions"))
            .bearer(&admin)
            .header("if-match", "\"1\"")
            .header("x-request-id", &rid)
            .json(&json!({"to": "submitted", "comment": "please"}))
            .send()
            .await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        let submitted = res.json();
        assert_eq!(submitted["approvalStatus"], "submitted");
        assert_eq!(submitted["prevApprovalStatus"], "draft");
        assert_eq!(submitted["approvalComment"], "please");
        assert_eq!(submitted["version"], 2);
        let event = &app.outbox_for_request(&rid).await[0];
        assert_eq!(
            (event.action.as_str(), event.operation.as_str()),
            ("update", "promotions-transition")
        );
        assert_eq!(event.before.as_ref().unwrap()["approvalStatus"], "draft");
        assert_eq!(event.after.as_ref().unwrap()["approvalStatus"], "submitted");

        // Not a draft: no PUT, no DELETE.
        let res = app
            .call("PUT", &path)
            .bearer(&author)
            .json(&body)
            .send()
            .await;
        assert!(res.problem(409)["detail"]
            .as_str()
            .unwrap()
            .contains("draft"));
        app.call("DELETE", &path)
            .bearer(&author)
            .send()
            .await
            .problem(409);

        // A non-admin may not decide; the submitter may not either.
        transition(app, &author, &id, 2, "approved")
            .await
            .problem(403);
        let four_eyes = transition(app, &admin, &id, 2, "approved")
            .await
            .problem(403);
        assert!(four_eyes["detail"].as_str().unwrap().contains("four eyes"));
        transition(app, &other_admin, &id, 1, "rejected")
            .await
            .problem(412);

        let res = transition(app, &other_admin, &id, 2, "rejected").await;
        assert_eq!(res.status, 200);
        assert_eq!(res.json()["decidedBy"], other_admin_id.to_string());
        assert_eq!(res.json()["submittedBy"], submitted["submittedBy"]);
        let res = transition(app, &author, &id, 3, "draft").await;
        assert_eq!(res.status, 200);
        assert_eq!(res.json()["approvalStatus"], "draft");
        assert_eq!(res.json()["prevApprovalStatus"], "rejected");

        // Round two: submitted by the author, approved by an admin; final.
        assert_eq!(
            transition(app, &author, &id, 4, "submitted").await.status,
            200
        );
        let approved = transition(app, &admin, &id, 5, "approved").await;
        assert_eq!(approved.status, 200);
        assert_eq!(approved.json()["approvalStatus"], "approved");
        let last = transition(app, &admin, &id, 6, "draft").await.problem(409);
        assert!(last["detail"].as_str().unwrap().contains("final"));
        let got = app.call("GET", &path).bearer(&author).send().await.json();
        assert_eq!(got["approvalStatus"], "approved");
        assert_eq!(got["version"], 6);
    })
}

#[test]
fn of_two_admins_approving_at_once_one_wins() {
    block_on(async {
        let app = app().await;
        let (_, author) = app.token(false).await;
        let (id, _, _) = new_promotion(app, &author).await;
        assert_eq!(
            transition(app, &author, &id, 1, "submitted").await.status,
            200
        );
        let mut admins = Vec::new();
        for _ in 0..4 {
            admins.push(app.token(true).await.1);
        }
        let tasks: Vec<_> = admins
            .into_iter()
            .enumerate()
            .map(|(i, token)| {
                let id = id.clone();
                let to = if i % 2 == 0 { "approved" } else { "rejected" };
                tokio::spawn(async move { transition(app, &token, &id, 2, to).await.status })
            })
            .collect();
        assert_eq!(statuses_of(tasks).await, [200, 412, 412, 412]);
        let events: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM audit_outbox WHERE object_id = $1::uuid AND operation = 'promotions-transition'",
        )
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(events, 2, "one submission, one decision");
    })
}

#[test]
fn of_two_updates_with_one_if_match_one_wins() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let (id, customer, _) = new_promotion(app, &token).await;
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let (id, token) = (id.clone(), token.clone());
                let mut body = promotion(&customer, &[]);
                body["name"] = json!(format!("writer {i}"));
                tokio::spawn(async move {
                    app.call("PUT", &format!("/api/promotions/{id}"))
                        .bearer(&token)
                        .header("if-match", "\"1\"")
                        .json(&body)
                        .send()
                        .await
                        .status
                })
            })
            .collect();
        assert_eq!(statuses_of(tasks).await, [200, 412, 412, 412]);
    })
}

#[test]
fn a_held_product_or_customer_is_not_deleted() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let customer = new_customer(app, &token).await;
        let product = new_product(app, &token).await;
        let mut ids = Vec::new();
        for _ in 0..2 {
            let res = create(app, &token, &promotion(&customer, &[&product])).await;
            ids.push(res.json()["id"].as_str().unwrap().to_owned());
        }
        let refused = app
            .call("DELETE", &format!("/api/products/{product}"))
            .bearer(&token)
            .send()
            .await
            .problem(409);
        assert!(
            refused["detail"]
                .as_str()
                .unwrap()
                .starts_with("2 promotions"),
            "{refused}"
        );
        let refused = app
            .call("DELETE", &format!("/api/customers/{customer}"))
            .bearer(&token)
            .send()
            .await
            .problem(409);
        assert!(
            refused["detail"]
                .as_str()
                .unwrap()
                .starts_with("2 promotions"),
            "{refused}"
        );
        for id in &ids {
            let res = app
                .call("DELETE", &format!("/api/promotions/{id}"))
                .bearer(&token)
                .send()
                .await;
            assert_eq!(res.status, 204);
        }
        assert_eq!(
            app.call("DELETE", &format!("/api/products/{product}"))
                .bearer(&token)
                .send()
                .await
                .status,
            204
        );
        assert_eq!(
            app.call("DELETE", &format!("/api/customers/{customer}"))
                .bearer(&token)
                .send()
                .await
                .status,
            204
        );
    })
}

/// A delete and a create that names the same product, at once, many
/// times: whichever wins, no promotion names a product that is gone.
#[test]
fn a_delete_racing_a_create_leaves_nothing_dangling() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let customer = new_customer(app, &token).await;
        let mut outcomes = std::collections::BTreeMap::new();
        for _ in 0..12 {
            let product = new_product(app, &token).await;
            let body = promotion(&customer, &[&product]);
            let (t1, t2) = (token.clone(), token.clone());
            let path = format!("/api/products/{product}");
            let create = tokio::spawn(async move { create(app, &t1, &body).await.status });
            let delete =
                tokio::spawn(
                    async move { app.call("DELETE", &path).bearer(&t2).send().await.status },
                );
            let outcome = (create.await.unwrap(), delete.await.unwrap());
            assert!(
                matches!(outcome, (201, 409) | (422, 204) | (409, 204)),
                "create and delete answered {outcome:?}"
            );
            *outcomes.entry(outcome).or_insert(0) += 1;
        }
        let dangling: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM promotions p, jsonb_array_elements(p.products) line \
             WHERE NOT EXISTS (SELECT FROM products x WHERE x.id = (line->>'productId')::uuid)",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(dangling, 0, "outcomes: {outcomes:?}");
    })
}

#[test]
fn promotions_are_filtered_by_product_status_and_activity() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let customer = new_customer(app, &token).await;
        let product = new_product(app, &token).await;
        let name = unique_code("named");
        let mut body = promotion(&customer, &[&product]);
        body["name"] = json!(name);
        body["active"] = json!(false);
        let first = create(app, &token, &body).await.json();
        let second = create(app, &token, &promotion(&customer, &[&product]))
            .await
            .json();
        let list = |query: String| {
            let token = token.clone();
            async move {
                let res = app
                    .call("GET", &format!("/api/promotions?{query}"))
                    .bearer(&token)
                    .send()
                    .await;
                assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
                res.json()["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["id"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            }
        };
        let (a, b) = (
            first["id"].as_str().unwrap(),
            second["id"].as_str().unwrap(),
        );
        assert_eq!(list(format!("productId={product}")).await, [a, b]);
        assert_eq!(list(format!("productId={product}&active=false")).await, [a]);
        assert_eq!(
            list(format!(
                "productId={product}&approvalStatus=draft&active=true"
            ))
            .await,
            [b]
        );
        assert_eq!(list(format!("name={}", name.to_uppercase())).await, [a]);
        assert_eq!(list(format!("q={name}")).await, [a]);
        assert!(list(format!("productId={product}&approvalStatus=approved"))
            .await
            .is_empty());
        app.call("GET", "/api/promotions?approvalStatus=published")
            .bearer(&token)
            .send()
            .await
            .problem(400);
        app.call("GET", "/api/promotions?productId=nope")
            .bearer(&token)
            .send()
            .await
            .problem(400);
    })
}
