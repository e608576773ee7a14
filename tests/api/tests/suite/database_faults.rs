//! The app database cut under load: its backends terminated while writes
//! run (a statement's connection closed under it, as in a failover or a
//! restart). Every answer is a success or a 503 with `Retry-After`, never a
//! 500 and never a hang; the app serves again at once; and the audit trail
//! holds exactly the writes that committed.

use api_tests::{block_on, db_url_for, unique_code, TestApp};
use serde_json::json;
use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DB: &str = "spintemp_test_db_faults";

#[test]
fn backends_terminated_under_writes_answer_503_and_the_trail_holds_what_committed() {
    block_on(async {
        let app: &'static TestApp = Box::leak(Box::new(TestApp::start_in(DB, &[]).await.unwrap()));
        let (_, token) = app.token(false).await;
        let prefix = unique_code("cut");
        let admin = PgPool::connect(&db_url_for("postgres")).await.unwrap();

        let cutting = Arc::new(AtomicBool::new(true));
        let cutter = tokio::spawn({
            let (cutting, admin) = (cutting.clone(), admin.clone());
            async move {
                let mut cuts = 0u64;
                while cutting.load(Ordering::Relaxed) {
                    let cut: Vec<bool> = sqlx::query_scalar(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = $1 AND pid <> pg_backend_pid()",
                    )
                    .bind(DB)
                    .fetch_all(&admin)
                    .await
                    .unwrap_or_default();
                    cuts += cut.len() as u64;
                    tokio::time::sleep(Duration::from_millis(15)).await;
                }
                cuts
            }
        });

        let mut created = Vec::new();
        let (mut unavailable, mut unknown) = (0, 0);
        let mut slowest = Duration::ZERO;
        for wave in 0..12 {
            let tasks: Vec<_> = (0..8)
                .map(|i| {
                    let (token, code) = (token.clone(), format!("{prefix}-{wave}-{i}"));
                    tokio::spawn(async move {
                        let started = Instant::now();
                        let res = app
                            .create_customer(&token, &json!({"code": code, "name": "Cut"}))
                            .await;
                        (res, started.elapsed())
                    })
                })
                .collect();
            for task in tasks {
                let (res, took) = task.await.unwrap();
                slowest = slowest.max(took);
                match res.status {
                    201 => created.push(res.json()["id"].as_str().unwrap().to_owned()),
                    503 => {
                        let problem = res.problem(503);
                        assert!(res.header("retry-after").is_some(), "{problem}");
                        if problem["type"]
                            .as_str()
                            .unwrap()
                            .ends_with("/outcome-unknown")
                        {
                            unknown += 1;
                        } else {
                            unavailable += 1;
                        }
                    }
                    other => panic!("a write answered {other}: {:?}", res.body),
                }
            }
        }
        cutting.store(false, Ordering::Relaxed);
        let cuts = cutter.await.unwrap();
        eprintln!(
            "{cuts} backends cut: {} created, {unavailable} unavailable, {unknown} outcome unknown, slowest {slowest:?}",
            created.len()
        );
        assert!(cuts > 0, "no backend was cut: the test tested nothing");
        assert!(unavailable + unknown > 0, "no write met a cut connection");
        assert!(slowest < Duration::from_secs(5), "a write took {slowest:?}");

        // Serving again at once.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let res = app
                .create_customer(
                    &token,
                    &json!({"code": format!("{prefix}-after"), "name": "After"}),
                )
                .await;
            if res.status == 201 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "not serving 5 s after the cuts: {}",
                res.status
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Exactly the writes that committed are in the trail: every created
        // record, and the ones whose outcome was unknown if they committed.
        let pattern = format!("{prefix}-%");
        let stored: Vec<String> = sqlx::query_scalar(
            "SELECT id::text FROM customers WHERE code LIKE $1 AND code <> $2 ORDER BY id",
        )
        .bind(&pattern)
        .bind(format!("{prefix}-after"))
        .fetch_all(&app.db)
        .await
        .unwrap();
        let events: Vec<String> = sqlx::query_scalar(
            "SELECT object_id::text FROM audit_outbox WHERE object_type = 'customer' \
             AND action = 'create' AND after->>'code' LIKE $1 AND after->>'code' <> $2 ORDER BY object_id",
        )
        .bind(&pattern)
        .bind(format!("{prefix}-after"))
        .fetch_all(&app.db)
        .await
        .unwrap();
        assert_eq!(events, stored, "the trail and the table disagree");
        for id in &created {
            assert!(stored.contains(id), "a 201 whose record is not there: {id}");
        }
        assert!(stored.len() <= created.len() + unknown);
    })
}
