//! The app database failing under load: its backends terminated while
//! writes run (a statement's connection closed under it), and a server of
//! the test's own restarted (`pg_ctl restart`, what a failover or an upgrade
//! does). Every answer is a success or a 503 with `Retry-After`, never a
//! 500 and never a wait over 5 s; the app serves again within 5 s; and the
//! audit trail holds exactly the writes that committed.

use api_tests::{block_on, db_url_for, unique_code, TestApp};
use serde_json::json;
use spintemp_host::own_postgres::OwnPostgres;
use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the writes made under a fault were answered.
#[derive(Default)]
struct Outcomes {
    created: Vec<String>,
    unavailable: usize,
    unknown: usize,
    slowest: Duration,
}

impl std::fmt::Debug for Outcomes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} created, {} unavailable, {} outcome unknown, slowest {:?}",
            self.created.len(),
            self.unavailable,
            self.unknown,
            self.slowest
        )
    }
}

/// Waves of 8 concurrent creates named `<prefix>-…` while the caller's
/// fault runs, until it says it is `over`, and 5 waves more.
async fn writes(app: &'static TestApp, token: &str, prefix: &str, over: &AtomicBool) -> Outcomes {
    let mut outcomes = Outcomes::default();
    let mut after = 0;
    for wave in 0..1000 {
        if over.load(Ordering::Relaxed) {
            after += 1;
            if after > 5 {
                break;
            }
        }
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (token, code) = (token.to_owned(), format!("{prefix}-{wave}-{i}"));
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
            outcomes.slowest = outcomes.slowest.max(took);
            match res.status {
                201 => outcomes
                    .created
                    .push(res.json()["id"].as_str().unwrap().to_owned()),
                503 => {
                    let problem = res.problem(503);
                    assert!(res.header("retry-after").is_some(), "{problem}");
                    if problem["type"]
                        .as_str()
                        .unwrap()
                        .ends_with("/outcome-unknown")
                    {
                        outcomes.unknown += 1;
                    } else {
                        outcomes.unavailable += 1;
                    }
                }
                other => panic!("a write answered {other}: {:?}", res.body),
            }
        }
    }
    assert!(
        outcomes.slowest < Duration::from_secs(5),
        "a write took {:?}",
        outcomes.slowest
    );
    outcomes
}

/// The app serves a write again within 5 s; then the trail (`db`) holds an
/// event for exactly the `<prefix>-…` records that exist, every 201 among
/// them.
async fn serves_again_and_the_trail_holds(
    app: &TestApp,
    db: &PgPool,
    token: &str,
    prefix: &str,
    outcomes: &Outcomes,
) {
    let after = format!("{prefix}-after");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let res = app
            .create_customer(token, &json!({"code": after, "name": "After"}))
            .await;
        if res.status == 201 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not serving 5 s after the fault: {}",
            res.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pattern = format!("{prefix}-%");
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT id::text FROM customers WHERE code LIKE $1 AND code <> $2 ORDER BY id",
    )
    .bind(&pattern)
    .bind(&after)
    .fetch_all(db)
    .await
    .unwrap();
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT object_id::text FROM audit_outbox WHERE object_type = 'customer' \
         AND action = 'create' AND after->>'code' LIKE $1 AND after->>'code' <> $2 \
         ORDER BY object_id",
    )
    .bind(&pattern)
    .bind(&after)
    .fetch_all(db)
    .await
    .unwrap();
    assert_eq!(events, stored, "the trail and the table disagree");
    for id in &outcomes.created {
        assert!(stored.contains(id), "a 201 whose record is not there: {id}");
    }
    assert!(stored.len() <= outcomes.created.len() + outcomes.unknown);
}

#[test]
fn backends_terminated_under_writes_answer_503_and_the_trail_holds_what_committed() {
    const DB: &str = "spintemp_test_db_faults";
    block_on(async {
        let app: &'static TestApp = Box::leak(Box::new(TestApp::start_in(DB, &[]).await.unwrap()));
        let (_, token) = app.token(false).await;
        let prefix = unique_code("cut");
        let admin = PgPool::connect(&db_url_for("postgres")).await.unwrap();
        let cutting = Arc::new(AtomicBool::new(true));
        let cutter = tokio::spawn({
            let cutting = cutting.clone();
            async move {
                let mut cuts = 0usize;
                while cutting.load(Ordering::Relaxed) {
                    let cut: Vec<bool> = sqlx::query_scalar(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = $1 AND pid <> pg_backend_pid()",
                    )
                    .bind(DB)
                    .fetch_all(&admin)
                    .await
                    .unwrap_or_default();
                    cuts += cut.len();
                    tokio::time::sleep(Duration::from_millis(15)).await;
                }
                cuts
            }
        });
        let over = Arc::new(AtomicBool::new(false));
        tokio::spawn({
            let over = over.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                over.store(true, Ordering::Relaxed);
            }
        });
        let outcomes = writes(app, &token, &prefix, &over).await;
        cutting.store(false, Ordering::Relaxed);
        let cuts = cutter.await.unwrap();
        eprintln!("{cuts} backends cut: {outcomes:?}");
        assert!(cuts > 0, "no backend was cut: the test tested nothing");
        assert!(
            outcomes.unavailable + outcomes.unknown > 0,
            "no write met a cut connection"
        );
        serves_again_and_the_trail_holds(app, &app.db, &token, &prefix, &outcomes).await;
    })
}

#[test]
fn a_database_restart_under_writes_answers_503_and_serves_again_at_once() {
    block_on(async {
        let pg = OwnPostgres::start().unwrap();
        let admin = PgPool::connect(&pg.url("postgres")).await.unwrap();
        sqlx::query("CREATE DATABASE spintemp")
            .execute(&admin)
            .await
            .unwrap();
        let url = pg.url("spintemp");
        api_tests::migrate_with_logins(&url, &url).await.unwrap();
        let server = format!("127.0.0.1:{}", pg.port);
        let roles = api_tests::role_variables(&url, &url);
        let mut overrides = api_tests::borrowed(&roles);
        overrides.extend([
            ("db_host", server.as_str()),
            ("audit_db_host", server.as_str()),
        ]);
        let app: &'static TestApp = Box::leak(Box::new(TestApp::start(&overrides).await.unwrap()));
        let db = PgPool::connect(&url).await.unwrap();
        let token = app.user_in(&db, false).await.token;
        let prefix = unique_code("restart");

        let over = Arc::new(AtomicBool::new(false));
        let restart = tokio::spawn({
            let over = over.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let started = Instant::now();
                // pg_ctl waits; keep it off the runtime's workers.
                let pg = tokio::task::spawn_blocking(move || {
                    pg.restart().unwrap();
                    pg
                })
                .await
                .unwrap();
                over.store(true, Ordering::Relaxed);
                (pg, started.elapsed())
            }
        });
        let outcomes = writes(app, &token, &prefix, &over).await;
        let (_pg, took) = restart.await.unwrap();
        eprintln!("restart took {took:?}: {outcomes:?}");
        assert!(
            outcomes.unavailable + outcomes.unknown > 0,
            "no write met the restart: the test tested nothing"
        );
        serves_again_and_the_trail_holds(app, &db, &token, &prefix, &outcomes).await;
    })
}
