//! Customers: create, read, update, delete, with ETags, the cache and the
//! audit outbox.

use api_tests::{app, block_on, request_id, unique_code};
use serde_json::{json, Value};

fn customer(code: &str) -> Value {
    json!({"code": code, "name": "Ducks R Us", "extraFields": {"tier": "gold", "tags": ["a", "b"]},
           "validFrom": "2026-01-01T00:00:00Z", "validThru": "2027-01-01T00:00:00Z"})
}

#[test]
fn create_returns_the_record_with_location_etag_and_audit_event() {
    block_on(async {
        let app = app().await;
        let (user, token) = app.token(false).await;
        let rid = request_id();
        let code = unique_code("ducks");
        let res = app
            .call("POST", "/api/customers")
            .bearer(&token)
            .header("x-request-id", &rid)
            .json(&customer(&code))
            .send()
            .await;
        assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
        assert_eq!(res.header("x-request-id"), Some(rid.as_str()));
        assert_eq!(res.header("etag"), Some("\"1\""));
        let body = res.json();
        let id = body["id"].as_str().unwrap();
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
        assert_eq!(
            res.header("location"),
            Some(format!("/api/customers/{id}").as_str())
        );
        assert_eq!(body["code"], code);
        assert_eq!(body["name"], "Ducks R Us");
        assert_eq!(
            body["extraFields"],
            json!({"tier": "gold", "tags": ["a", "b"]})
        );
        assert_eq!(body["validFrom"], "2026-01-01T00:00:00.000000Z");
        assert_eq!(body["validThru"], "2027-01-01T00:00:00.000000Z");
        assert_eq!(body["createdBy"], user.to_string());
        assert_eq!(body["updatedBy"], user.to_string());
        assert_eq!(body["version"], 1);
        assert!(body["createdAt"].as_str().unwrap().ends_with('Z'));

        let events = app.outbox_for_request(&rid).await;
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.id.get_version_num(), 7);
        assert_eq!(
            (event.object_type.as_str(), event.action.as_str()),
            ("customer", "create")
        );
        assert_eq!(event.operation, "customers-create");
        assert_eq!(event.object_id.to_string(), id);
        assert_eq!(event.actor, user);
        assert_eq!(event.before, None);
        assert_eq!(event.after.as_ref(), Some(&body));
    })
}

#[test]
fn create_fills_defaults_and_ignores_client_ids() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let client_id = uuid::Uuid::now_v7().to_string();
        let res = app
            .call("POST", "/api/customers/")
            .bearer(&token)
            .json(&json!({"id": client_id, "code": unique_code("d"), "name": "  Pato Loco Inc  ", "version": 9}))
            .send()
            .await;
        assert_eq!(res.status, 201);
        let body = res.json();
        assert_ne!(body["id"], client_id);
        assert_eq!(body["name"], "Pato Loco Inc");
        assert_eq!(body["version"], 1);
        assert_eq!(body["extraFields"], json!({}));
        let from =
            chrono::DateTime::parse_from_rfc3339(body["validFrom"].as_str().unwrap()).unwrap();
        let thru =
            chrono::DateTime::parse_from_rfc3339(body["validThru"].as_str().unwrap()).unwrap();
        assert!((chrono::Utc::now() - from.to_utc()).num_seconds().abs() < 60);
        assert!((thru - from).num_days() >= 365);
    })
}

#[test]
fn duplicate_codes_conflict_case_insensitively_and_write_nothing() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let code = unique_code("dup");
        let first = app.create_customer(&token, &customer(&code)).await;
        assert_eq!(first.status, 201);

        let rid = request_id();
        let res = app
            .call("POST", "/api/customers")
            .bearer(&token)
            .header("x-request-id", &rid)
            .json(&customer(&code.to_uppercase()))
            .send()
            .await;
        let problem = res.problem(409);
        assert!(problem["detail"].as_str().unwrap().contains("code"));
        assert!(app.outbox_for_request(&rid).await.is_empty());

        // Renaming another customer onto the taken code conflicts too.
        let other = app
            .create_customer(&token, &customer(&unique_code("o")))
            .await;
        let other_id = other.json()["id"].as_str().unwrap().to_owned();
        let rid = request_id();
        let res = app
            .call("PUT", &format!("/api/customers/{other_id}"))
            .bearer(&token)
            .header("x-request-id", &rid)
            .json(&customer(&code))
            .send()
            .await;
        res.problem(409);
        assert!(app.outbox_for_request(&rid).await.is_empty());
    })
}

/// The key-value API has no TTL: an entry carries its expiry, so one whose
/// invalidation was lost stops being served when it expires.
#[test]
fn an_expired_cache_entry_is_not_served() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let created = app
            .create_customer(&token, &customer(&unique_code("exp")))
            .await;
        let id = created.json()["id"].as_str().unwrap().to_owned();
        let path = format!("/api/customers/{id}");
        let mut stale = created.json();
        stale["name"] = json!("stale");
        let now = chrono::Utc::now().timestamp();

        app.put_cache_entry("customer", &id, now + 600, stale.to_string().as_bytes())
            .await;
        let got = app.call("GET", &path).bearer(&token).send().await;
        assert_eq!(got.json()["name"], "stale", "a live entry is served");

        app.put_cache_entry("customer", &id, now - 1, stale.to_string().as_bytes())
            .await;
        let got = app.call("GET", &path).bearer(&token).send().await;
        assert_eq!(got.json(), created.json(), "an expired entry is not");
        let (expires_at, refilled) = app.cache_entry("customer", &id).await.unwrap();
        assert!(expires_at > now);
        assert_eq!(
            serde_json::from_slice::<Value>(&refilled).unwrap(),
            created.json()
        );
    })
}

#[test]
fn get_fills_the_cache_and_writes_invalidate_it() {
    block_on(async {
        let app = app().await;
        let (user, token) = app.token(false).await;
        let created = app
            .create_customer(&token, &customer(&unique_code("c")))
            .await;
        let id = created.json()["id"].as_str().unwrap().to_owned();
        let path = format!("/api/customers/{id}");
        assert_eq!(
            app.cached("customer", &id).await,
            None,
            "create does not fill the cache"
        );

        let got = app.call("GET", &path).bearer(&token).send().await;
        assert_eq!(got.status, 200);
        assert_eq!(got.header("etag"), Some("\"1\""));
        assert_eq!(got.json(), created.json());
        let (expires_at, cached) = app
            .cache_entry("customer", &id)
            .await
            .expect("get fills the cache");
        assert_eq!(
            serde_json::from_slice::<Value>(&cached).unwrap(),
            created.json()
        );
        // cache_ttl_seconds is 60 by default.
        let ttl = expires_at - chrono::Utc::now().timestamp();
        assert!((55..=61).contains(&ttl), "the entry expires in {ttl} s");

        // Served from the cache: a row changed behind the API's back is not seen…
        sqlx::query("UPDATE customers SET name = 'changed behind the API' WHERE id = $1::uuid")
            .bind(&id)
            .execute(&app.db)
            .await
            .unwrap();
        let again = app.call("GET", &path).bearer(&token).send().await;
        assert_eq!(again.json()["name"], "Ducks R Us");

        // …until a write through the API invalidates it.
        let mut update = customer(created.json()["code"].as_str().unwrap());
        update["name"] = json!("Ducks R Us Again");
        let rid = request_id();
        let updated = app
            .call("PUT", &path)
            .bearer(&token)
            .header("x-request-id", &rid)
            .header("if-match", "\"1\"")
            .json(&update)
            .send()
            .await;
        assert_eq!(
            updated.status,
            200,
            "{}",
            String::from_utf8_lossy(&updated.body)
        );
        assert_eq!(updated.header("etag"), Some("\"2\""));
        let body = updated.json();
        assert_eq!(body["version"], 2);
        assert_eq!(body["name"], "Ducks R Us Again");
        assert_eq!(body["updatedBy"], user.to_string());
        assert_eq!(app.cached("customer", &id).await, None);

        let events = app.outbox_for_request(&rid).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, "update");
        assert_eq!(events[0].operation, "customers-update");
        assert_eq!(
            events[0].before.as_ref().unwrap()["name"],
            "changed behind the API"
        );
        assert_eq!(events[0].after.as_ref(), Some(&body));

        let fresh = app.call("GET", &path).bearer(&token).send().await;
        assert_eq!(fresh.json(), body);

        let deleted = app.call("DELETE", &path).bearer(&token).send().await;
        assert_eq!(deleted.status, 204);
        assert_eq!(app.cached("customer", &id).await, None);
        app.call("GET", &path)
            .bearer(&token)
            .send()
            .await
            .problem(404);
    })
}

/// A record is rendered once, when it is written (its stored `api_json`):
/// the create and update replies, a read from Postgres, a read from the
/// cache and a list page carry the very same bytes, compact and with keys
/// in byte order at every level, as clients have always received them.
#[test]
fn a_record_reads_the_same_bytes_everywhere() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let code = unique_code("bytes");
        // Keys out of order, nesting, escapes, non-ASCII, numbers.
        let raw = format!(
            r#"{{"code":"{code}","name":"Qu\"ack\tä","validFrom":"2026-01-01T00:00:00Z","validThru":"2027-01-01T00:00:00Z",
                "extraFields":{{"z":{{"y":[1,2.5,-0.125,{{"b":null,"a":true}}],"x":"\u00e9"}},"a":[],"m":{{}}}}}}"#
        );
        let created = app
            .call("POST", "/api/customers")
            .bearer(&token)
            .body_bytes("application/json", raw.into_bytes())
            .send()
            .await;
        assert_eq!(
            created.status,
            201,
            "{}",
            String::from_utf8_lossy(&created.body)
        );
        let body = String::from_utf8(created.body.to_vec()).unwrap();
        assert!(
            body.contains(r#""extraFields":{"a":[],"m":{},"z":{"x":"é","y":[1,2.5,-0.125,{"a":true,"b":null}]}},"id":"#),
            "{body}"
        );
        assert!(body.starts_with(r#"{"code":""#), "{body}");
        assert!(body.contains(r#","name":"Qu\"ack\tä","#), "{body}");

        let id = created.json()["id"].as_str().unwrap().to_owned();
        let path = format!("/api/customers/{id}");
        let from_postgres = app.call("GET", &path).bearer(&token).send().await;
        let from_cache = app.call("GET", &path).bearer(&token).send().await;
        assert!(app.cached("customer", &id).await.is_some());
        let page = app
            .call("GET", &format!("/api/customers?code={code}"))
            .bearer(&token)
            .send()
            .await;
        assert_eq!(String::from_utf8_lossy(&from_postgres.body), body);
        assert_eq!(String::from_utf8_lossy(&from_cache.body), body);
        assert_eq!(
            String::from_utf8_lossy(&page.body),
            format!(r#"{{"items":[{body}],"nextCursor":null}}"#)
        );

        let mut update = customer(&code);
        update["name"] = json!("Renamed");
        let updated = app
            .call("PUT", &path)
            .bearer(&token)
            .json(&update)
            .send()
            .await;
        assert_eq!(
            updated.status,
            200,
            "{}",
            String::from_utf8_lossy(&updated.body)
        );
        let fresh = app.call("GET", &path).bearer(&token).send().await;
        assert_eq!(fresh.body, updated.body);
        assert!(String::from_utf8_lossy(&fresh.body).contains(r#""name":"Renamed","#));
    })
}

#[test]
fn if_match_guards_updates_and_deletes() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let code = unique_code("m");
        let created = app.create_customer(&token, &customer(&code)).await;
        let path = format!("/api/customers/{}", created.json()["id"].as_str().unwrap());

        for stale in ["\"7\"", "\"abc\"", "W/\"2\""] {
            let rid = request_id();
            let res = app
                .call("PUT", &path)
                .bearer(&token)
                .header("x-request-id", &rid)
                .header("if-match", stale)
                .json(&customer(&code))
                .send()
                .await;
            res.problem(412);
            assert!(app.outbox_for_request(&rid).await.is_empty());
        }
        let ok = app
            .call("PUT", &path)
            .bearer(&token)
            .header("if-match", "W/\"1\"")
            .json(&customer(&code))
            .send()
            .await;
        assert_eq!(ok.status, 200);
        let unconditional = app
            .call("PUT", &path)
            .bearer(&token)
            .json(&customer(&code))
            .send()
            .await;
        assert_eq!(unconditional.json()["version"], 3);

        let rid = request_id();
        let res = app
            .call("DELETE", &path)
            .bearer(&token)
            .header("x-request-id", &rid)
            .header("if-match", "\"2\"")
            .send()
            .await;
        res.problem(412);
        assert!(app.outbox_for_request(&rid).await.is_empty());

        let rid = request_id();
        let res = app
            .call("DELETE", &path)
            .bearer(&token)
            .header("x-request-id", &rid)
            .header("if-match", "\"3\"")
            .send()
            .await;
        assert_eq!(res.status, 204);
        assert!(res.body.is_empty());
        let events = app.outbox_for_request(&rid).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, "delete");
        assert_eq!(events[0].after, None);
        assert_eq!(events[0].before.as_ref().unwrap()["version"], 3);

        let rid = request_id();
        app.call("DELETE", &path)
            .bearer(&token)
            .header("x-request-id", &rid)
            .send()
            .await
            .problem(404);
        app.call("PUT", &path)
            .bearer(&token)
            .json(&customer(&code))
            .send()
            .await
            .problem(404);
        assert!(app.outbox_for_request(&rid).await.is_empty());
    })
}

#[test]
fn validation_names_every_bad_field() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let rid = request_id();
        let res = app
            .call("POST", "/api/customers")
            .bearer(&token)
            .header("x-request-id", &rid)
            .json(&json!({"code": "ducks r us", "name": "", "extraFields": "no",
                           "validFrom": "2027-01-01T00:00:00Z", "validThru": "2026-01-01T00:00:00Z", "colour": "red"}))
            .send()
            .await;
        let problem = res.problem(422);
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            vec!["code", "name", "extraFields", "validThru", "colour"]
        );
        assert!(app.outbox_for_request(&rid).await.is_empty());

        let res = app.create_customer(&token, &json!({})).await;
        let problem = res.problem(422);
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, vec!["code", "name"]);
    })
}

/// A write's body goes through the path's front door to the operation's
/// component by service chaining; bodies of every size the API accepts must
/// arrive whole (the host buffers only a couple of writes before the target
/// reads, so a body handed on in many pieces before the request is sent
/// would never arrive).
#[test]
fn large_bodies_reach_the_operation_behind_the_front_door() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let blob = "x".repeat(15 * 1024);
        let mut body = customer(&unique_code("big"));
        body["extraFields"] = json!({"blob": blob});
        let created = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            app.create_customer(&token, &body),
        )
        .await
        .expect("a 15 KiB create never got an answer");
        assert_eq!(
            created.status,
            201,
            "{}",
            String::from_utf8_lossy(&created.body)
        );
        assert_eq!(created.json()["extraFields"]["blob"], blob.as_str());
        let path = created.header("location").unwrap().to_owned();

        body["name"] = json!("Bigger Ducks");
        body["extraFields"] = json!({"blob": "y".repeat(15 * 1024)});
        let updated = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            app.call("PUT", &path)
                .bearer(&token)
                .header("if-match", "\"1\"")
                .json(&body)
                .send(),
        )
        .await
        .expect("a 15 KiB update never got an answer");
        assert_eq!(
            updated.status,
            200,
            "{}",
            String::from_utf8_lossy(&updated.body)
        );
        assert_eq!(updated.json()["name"], "Bigger Ducks");

        // Over the extraFields limit but under the body limit: the target
        // reads it all and refuses it, naming the field.
        body["extraFields"] = json!({"blob": "z".repeat(40 * 1024)});
        let refused = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            app.create_customer(&token, &body),
        )
        .await
        .expect("a 40 KiB create never got an answer");
        let problem = refused.problem(422);
        assert!(problem.to_string().contains("extraFields"), "{problem}");
    })
}
