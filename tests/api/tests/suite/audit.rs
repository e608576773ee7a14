//! GET /api/audit and /api/audit/:id over the audit store. The rows are
//! written here as audit-relay writes them; the relay's own tests cover how
//! they get there.

use api_tests::{app, block_on, TestApp};
use serde_json::json;
use uuid::Uuid;

/// Inserts one event as the relay would, `minutes_ago` before now.
async fn record(
    app: &TestApp,
    object_id: Uuid,
    actor: Uuid,
    action: &str,
    minutes_ago: i64,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO audit_events (id, occurred_at, object_type, object_id, action, operation, actor, before, after, request_id) \
         VALUES ($1, now() - make_interval(mins => $2::int), 'customer', $3, $4, 'customers-' || $4, $5, NULL, $6, 'req-audit')",
    )
    .bind(id)
    .bind(minutes_ago as i32)
    .bind(object_id)
    .bind(action)
    .bind(actor)
    .bind(json!({"id": object_id, "name": "Audited"}))
    .execute(&app.db)
    .await
    .expect("inserting an audit event");
    id
}

#[test]
fn admins_read_events_newest_first_with_filters_and_pages() {
    block_on(async {
        let app = app().await;
        let (_, admin) = app.token(true).await;
        let object = Uuid::now_v7();
        let actor = Uuid::now_v7();
        let created = record(app, object, actor, "create", 30).await;
        let updated = record(app, object, actor, "update", 20).await;
        let deleted = record(app, object, actor, "delete", 10).await;
        let elsewhere = record(app, Uuid::now_v7(), actor, "update", 5).await;

        let res = app
            .call("GET", &format!("/api/audit?objectId={object}"))
            .bearer(&admin)
            .send()
            .await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        let body = res.json();
        let ids: Vec<&str> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            vec![
                deleted.to_string(),
                updated.to_string(),
                created.to_string()
            ]
        );
        let first = &body["items"][0];
        assert_eq!(first["objectType"], "customer");
        assert_eq!(first["objectId"], object.to_string());
        assert_eq!(first["actor"], actor.to_string());
        assert_eq!(first["action"], "delete");
        assert_eq!(first["operation"], "customers-delete");
        assert_eq!(first["requestId"], "req-audit");
        assert_eq!(first["before"], serde_json::Value::Null);
        assert_eq!(first["after"]["name"], "Audited");
        assert!(first["occurredAt"].as_str().unwrap().ends_with('Z'));
        assert!(first["recordedAt"].as_str().unwrap().ends_with('Z'));

        // Pages of one, following the cursor, see the same three in order.
        let mut paged = Vec::new();
        let mut cursor = String::new();
        loop {
            let res = app
                .call("GET", &format!("/api/audit?actor={actor}&limit=1{cursor}"))
                .bearer(&admin)
                .send()
                .await;
            let body = res.json();
            paged.extend(
                body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["id"].as_str().unwrap().to_owned()),
            );
            match body["nextCursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(
            paged,
            vec![
                elsewhere.to_string(),
                deleted.to_string(),
                updated.to_string(),
                created.to_string()
            ]
        );

        let only_updates = app
            .call(
                "GET",
                &format!("/api/audit?actor={actor}&action=update&objectType=customer"),
            )
            .bearer(&admin)
            .send()
            .await;
        assert_eq!(only_updates.json()["items"].as_array().unwrap().len(), 2);

        let from = (chrono::Utc::now() - chrono::Duration::minutes(25))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let to = (chrono::Utc::now() - chrono::Duration::minutes(15))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let window = app
            .call(
                "GET",
                &format!("/api/audit?objectId={object}&from={from}&to={to}"),
            )
            .bearer(&admin)
            .send()
            .await;
        let items = window.json()["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["id"], updated.to_string());

        let one = app
            .call("GET", &format!("/api/audit/{updated}"))
            .bearer(&admin)
            .send()
            .await;
        assert_eq!(one.status, 200);
        assert_eq!(one.json()["action"], "update");
        app.call("GET", &format!("/api/audit/{}", Uuid::now_v7()))
            .bearer(&admin)
            .send()
            .await
            .problem(404);
        app.call("GET", "/api/audit/not-an-id")
            .bearer(&admin)
            .send()
            .await
            .problem(404);
    })
}

#[test]
fn only_admins_may_read_the_audit_trail() {
    block_on(async {
        let app = app().await;
        let (_, user) = app.token(false).await;
        let res = app.call("GET", "/api/audit").bearer(&user).send().await;
        res.problem(403);
        let res = app
            .call("GET", &format!("/api/audit/{}", Uuid::now_v7()))
            .bearer(&user)
            .send()
            .await;
        res.problem(403);
        app.call("GET", "/api/audit").send().await.problem(401);
        let (_, admin) = app.token(true).await;
        let res = app.call("POST", "/api/audit").bearer(&admin).send().await;
        res.problem(405);
        assert_eq!(res.header("allow"), Some("GET"));
    })
}

#[test]
fn bad_audit_filters_are_400() {
    block_on(async {
        let app = app().await;
        let (_, admin) = app.token(true).await;
        for (query, field) in [
            ("objectType=invoice", "objectType"),
            ("action=Insert", "action"),
            ("actor=me", "actor"),
            ("cursor=x", "cursor"),
            ("from=2026-02-01&to=2026-01-01", "to"),
        ] {
            let res = app
                .call("GET", &format!("/api/audit?{query}"))
                .bearer(&admin)
                .send()
                .await;
            assert_eq!(res.problem(400)["errors"][0]["field"], field, "{query}");
        }
    })
}
