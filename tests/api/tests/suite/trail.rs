//! The whole audit path: API write → outbox (same statement) → audit-relay →
//! audit store → GET /api/audit. Runs on its own database, because the relay
//! drains every outbox row it can see.

use api_tests::{block_on, request_id, unique_code, TestApp};
use audit_relay::Config;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[test]
fn every_change_reaches_the_audit_api_once_in_order() {
    block_on(async {
        let app = TestApp::start_in("spintemp_test_trail", &[]).await.unwrap();
        let db_url = api_tests::db_url_for("spintemp_test_trail");
        // A stream and subjects of its own: JetStream refuses two streams
        // over the same subjects.
        let tag = uuid::Uuid::now_v7().simple().to_string();
        let mut config = Config::with_urls(
            // The outbox as the relay's own role; the store as its owner.
            &api_tests::relay_url(&db_url),
            &db_url,
            "nats://127.0.0.1:4222",
        );
        let stream = format!("TRAIL_{tag}");
        config.stream = stream.clone();
        config.subject_prefix = format!("trail{tag}");
        config.listen = "127.0.0.1:0".parse().unwrap();
        let shutdown = CancellationToken::new();
        let relay = audit_relay::start(config, shutdown.clone()).await.unwrap();

        let (user, token) = app.token(false).await;
        let (_, admin) = app.token(true).await;
        let code = unique_code("trail");
        let rids = [request_id(), request_id(), request_id()];
        let created = app
            .call("POST", "/api/customers")
            .bearer(&token)
            .header("x-request-id", &rids[0])
            .json(&json!({"code": code, "name": "Trail"}))
            .send()
            .await;
        assert_eq!(created.status, 201);
        let id = created.json()["id"].as_str().unwrap().to_owned();
        let path = format!("/api/customers/{id}");
        let updated = app
            .call("PUT", &path)
            .bearer(&token)
            .header("x-request-id", &rids[1])
            .json(&json!({"code": code, "name": "Trail Renamed"}))
            .send()
            .await;
        assert_eq!(updated.status, 200);
        let deleted = app
            .call("DELETE", &path)
            .bearer(&token)
            .header("x-request-id", &rids[2])
            .send()
            .await;
        assert_eq!(deleted.status, 204);

        // The relay is asynchronous: wait (bounded) for all three.
        let deadline = Instant::now() + Duration::from_secs(20);
        let events = loop {
            let res = app
                .call("GET", &format!("/api/audit?objectId={id}"))
                .bearer(&admin)
                .send()
                .await;
            assert_eq!(res.status, 200);
            let items = res.json()["items"].as_array().unwrap().clone();
            if items.len() >= 3 || Instant::now() > deadline {
                break items;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        shutdown.cancel();
        relay.wait().await.unwrap();
        let nats = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
        let stream_messages = async_nats::jetstream::new(nats.clone())
            .get_stream(&stream)
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .messages;
        async_nats::jetstream::new(nats)
            .delete_stream(&stream)
            .await
            .unwrap();
        assert_eq!(stream_messages, 3, "one message per change in JetStream");

        let actions: Vec<&str> = events
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            vec!["delete", "update", "create"],
            "newest first, each once"
        );
        let request_ids: Vec<&str> = events
            .iter()
            .rev()
            .map(|e| e["requestId"].as_str().unwrap())
            .collect();
        assert_eq!(
            request_ids,
            rids.iter().map(String::as_str).collect::<Vec<_>>()
        );
        for event in &events {
            assert_eq!(event["actor"], user.to_string());
            assert_eq!(event["objectType"], "customer");
        }
        assert_eq!(events[2]["before"], Value::Null);
        assert_eq!(events[2]["after"], created.json());
        assert_eq!(events[1]["before"], created.json());
        assert_eq!(events[1]["after"], updated.json());
        assert_eq!(events[0]["before"], updated.json());
        assert_eq!(events[0]["after"], Value::Null);
        assert_eq!(events[0]["operation"], "customers-delete");

        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_outbox")
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(left, 0, "the relay empties the outbox");
    })
}
