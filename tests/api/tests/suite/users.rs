//! /api/users: who may see and change whom, passwords, the last
//! administrator, and what a change to a user does to its tokens.

use crate::sessions::{login, register, unique_email};
use api_tests::{app, block_on, request_id, unique_code, Reply, TestApp, TestUser, TEST_PASSWORD};
use serde_json::{json, Value};

fn path(id: impl std::fmt::Display) -> String {
    format!("/api/users/{id}")
}

async fn get(app: &TestApp, token: &str, id: impl std::fmt::Display) -> Reply {
    app.call("GET", &path(id)).bearer(token).send().await
}

async fn put(app: &TestApp, token: &str, id: impl std::fmt::Display, body: &Value) -> Reply {
    app.call("PUT", &path(id))
        .bearer(token)
        .json(body)
        .send()
        .await
}

/// The user as GET shows it, ready to be changed and PUT back.
async fn current(app: &TestApp, id: impl std::fmt::Display) -> Value {
    let admin = app.user(true).await;
    let reply = get(app, &admin.token, id).await;
    assert_eq!(reply.status, 200);
    reply.json()
}

#[test]
fn users_see_and_change_only_themselves_and_admins_anyone() {
    block_on(async {
        let app = app().await;
        let ana = app.user(false).await;
        let bob = app.user(false).await;
        let admin = app.user(true).await;

        assert_eq!(get(app, &ana.token, ana.id).await.status, 200);
        get(app, &ana.token, bob.id).await.problem(403);
        assert_eq!(get(app, &admin.token, bob.id).await.status, 200);
        get(app, &admin.token, uuid::Uuid::now_v7())
            .await
            .problem(404);

        app.call("GET", "/api/users")
            .bearer(&ana.token)
            .send()
            .await
            .problem(403);
        let post = app
            .call("POST", "/api/users")
            .bearer(&admin.token)
            .json(&json!({}))
            .send()
            .await;
        post.problem(405);
        assert_eq!(post.header("allow"), Some("GET"));

        let mut body = current(app, bob.id).await;
        body["firstName"] = json!("Robert");
        put(app, &ana.token, bob.id, &body).await.problem(403);
        app.call("DELETE", &path(bob.id))
            .bearer(&ana.token)
            .send()
            .await
            .problem(403);

        // Yourself: yes, but not into an administrator.
        let mut mine = current(app, ana.id).await;
        mine["firstName"] = json!("Anabela");
        let changed = put(app, &ana.token, ana.id, &mine).await;
        assert_eq!(changed.status, 200, "{:?}", changed.json());
        assert_eq!(changed.json()["name"], "Anabela User");
        assert_eq!(changed.header("etag"), Some("\"2\""));
        let mut promote = changed.json();
        promote["admin"] = json!(true);
        put(app, &ana.token, ana.id, &promote).await.problem(403);

        // An admin may make anyone an admin.
        let mut promote = current(app, bob.id).await;
        promote["admin"] = json!(true);
        let promoted = put(app, &admin.token, bob.id, &promote).await;
        assert_eq!(promoted.status, 200);
        assert_eq!(promoted.json()["admin"], true);
    })
}

#[test]
fn the_users_list_filters_for_admins() {
    block_on(async {
        let app = app().await;
        let admin = app.user(true).await;
        let email = unique_email("Findme");
        let registered = register(app, &email, "long enough").await.json();
        let list = |query: String| {
            let token = admin.token.clone();
            async move {
                app.call("GET", &format!("/api/users?{query}"))
                    .bearer(&token)
                    .send()
                    .await
            }
        };
        let by_email = list(format!("email={}", email.to_uppercase())).await.json();
        assert_eq!(by_email["items"], json!([registered]));
        let prefix = email.split('@').next().unwrap().to_lowercase();
        let by_q = list(format!("q={prefix}&active=true&admin=false"))
            .await
            .json();
        assert_eq!(by_q["items"], json!([registered]));
        assert_eq!(
            list(format!("q={prefix}&admin=true")).await.json()["items"],
            json!([])
        );
        assert_eq!(
            list("q=ana%20lima&limit=1".into()).await.json()["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        list("active=maybe".into()).await.problem(400);
        for item in list("limit=200".into()).await.json()["items"]
            .as_array()
            .unwrap()
        {
            assert!(item.get("passwordHash").is_none() && !item.to_string().contains("argon2"));
        }
    })
}

#[test]
fn a_new_password_needs_the_current_one_and_ends_old_sessions() {
    block_on(async {
        let app = app().await;
        let email = unique_email("pw");
        register(app, &email, "first password").await;
        let session = login(app, &email, "first password").await.json();
        let token = session["accessToken"].as_str().unwrap().to_owned();
        let id = session["user"]["id"].as_str().unwrap().to_owned();
        let mut body = session["user"].clone();

        body["password"] = json!("second password");
        let problem = put(app, &token, &id, &body).await.problem(422);
        assert_eq!(problem["errors"][0]["field"], "currentPassword");
        body["currentPassword"] = json!("not it at all");
        let problem = put(app, &token, &id, &body).await.problem(422);
        assert_eq!(problem["errors"][0]["field"], "currentPassword");
        body["password"] = json!("short");
        put(app, &token, &id, &body).await.problem(422);

        body["password"] = json!("second password");
        body["currentPassword"] = json!("first password");
        let req = request_id();
        let changed = app
            .call("PUT", &path(&id))
            .bearer(&token)
            .header("x-request-id", &req)
            .json(&body)
            .send()
            .await;
        assert_eq!(changed.status, 200, "{:?}", changed.json());
        let text = String::from_utf8_lossy(&changed.body).to_string();
        assert!(!text.contains("second password") && !text.contains("first password"));
        assert_ne!(
            changed.json()["passwordChangedAt"],
            session["user"]["passwordChangedAt"]
        );
        // The change is audited, without any secret.
        let events = app.outbox_for_request(&req).await;
        assert_eq!(events.len(), 1);
        let event = serde_json::to_string(&(&events[0].before, &events[0].after)).unwrap();
        assert!(
            !event.contains("password\"")
                && !event.contains("argon2")
                && !event.contains("second password")
        );

        login(app, &email, "first password").await.problem(401);
        assert_eq!(login(app, &email, "second password").await.status, 200);
        // (a) the old session's refresh token fails at once...
        app.call("POST", "/api/auth/refresh")
            .json(&json!({"refreshToken": session["refreshToken"]}))
            .send()
            .await
            .problem(401);
        // (b) ...and so does every write with an access token issued before.
        let write = app
            .create_customer(&token, &json!({"code": unique_code("old"), "name": "Old"}))
            .await;
        write.problem(401);
        // (c) reads go on until the token expires.
        assert_eq!(
            app.call("GET", "/api/auth/me")
                .bearer(&token)
                .send()
                .await
                .status,
            200
        );

        // An admin resets anyone's password without knowing it.
        let admin = app.user(true).await;
        let mut reset = changed.json();
        reset["password"] = json!("third password");
        assert_eq!(put(app, &admin.token, &id, &reset).await.status, 200);
        assert_eq!(login(app, &email, "third password").await.status, 200);
    })
}

#[test]
fn deactivated_and_demoted_users_can_no_longer_write_with_their_tokens() {
    block_on(async {
        let app = app().await;
        let admin = app.user(true).await;
        let user = app.user(false).await;
        let session = login(app, &user.email, TEST_PASSWORD).await.json();
        let mut body = current(app, user.id).await;
        body["active"] = json!(false);
        assert_eq!(put(app, &admin.token, user.id, &body).await.status, 200);
        for token in [&user.token, session["accessToken"].as_str().unwrap()] {
            app.create_customer(token, &json!({"code": unique_code("off"), "name": "Off"}))
                .await
                .problem(401);
        }
        login(app, &user.email, TEST_PASSWORD).await.problem(401);
        app.call("POST", "/api/auth/refresh")
            .json(&json!({"refreshToken": session["refreshToken"]}))
            .send()
            .await
            .problem(401);

        // A demoted admin's token may not write either, even as a user.
        let other = app.user(true).await;
        let mut demote = current(app, other.id).await;
        demote["admin"] = json!(false);
        assert_eq!(put(app, &admin.token, other.id, &demote).await.status, 200);
        app.create_customer(
            &other.token,
            &json!({"code": unique_code("demoted"), "name": "D"}),
        )
        .await
        .problem(401);
        // Inactive users may be deleted, then they are gone.
        let deleted = app
            .call("DELETE", &path(user.id))
            .bearer(&admin.token)
            .send()
            .await;
        assert_eq!(deleted.status, 204);
        get(app, &admin.token, user.id).await.problem(404);
    })
}

#[test]
fn an_active_user_cannot_be_deleted() {
    block_on(async {
        let app = app().await;
        let user: TestUser = app.user(false).await;
        let problem = app
            .call("DELETE", &path(user.id))
            .bearer(&user.token)
            .send()
            .await
            .problem(409);
        assert!(
            problem["detail"].as_str().unwrap().contains("deactivate"),
            "{problem}"
        );
        let mut body = current(app, user.id).await;
        body["active"] = json!(false);
        assert_eq!(
            put(app, &user.token, user.id, &body).await.status,
            200,
            "users may deactivate themselves"
        );
        let admin = app.user(true).await;
        let stale = app
            .call("DELETE", &path(user.id))
            .bearer(&admin.token)
            .header("if-match", "\"1\"")
            .send()
            .await;
        stale.problem(412);
        assert_eq!(
            app.call("DELETE", &path(user.id))
                .bearer(&admin.token)
                .header("if-match", "\"2\"")
                .send()
                .await
                .status,
            204
        );
    })
}

#[test]
fn the_last_active_admin_stays_one_even_when_two_are_demoted_at_once() {
    block_on(async {
        // A database of its own: the shared one has many admins.
        let app = TestApp::start_in("spintemp_test_last_admin", &[])
            .await
            .unwrap();
        let first = app.user(true).await;
        let mut alone = current_in(&app, &first).await;
        alone["admin"] = json!(false);
        let problem = put(&app, &first.token, first.id, &alone).await.problem(409);
        assert!(problem["detail"]
            .as_str()
            .unwrap()
            .contains("last active administrator"));
        alone["admin"] = json!(true);
        alone["active"] = json!(false);
        put(&app, &first.token, first.id, &alone).await.problem(409);

        let second = app.user(true).await;
        for _ in 0..3 {
            let mut a = current_in(&app, &first).await;
            a["admin"] = json!(false);
            let mut b = current_in(&app, &second).await;
            b["admin"] = json!(false);
            let (x, y) = tokio::join!(
                put(&app, &second.token, first.id, &a),
                put(&app, &first.token, second.id, &b)
            );
            let statuses = [x.status, y.status];
            // Exactly one demotion happens; the other is refused, as the last
            // admin's (409) or as a write by a just-demoted admin (401).
            assert_eq!(
                statuses.iter().filter(|s| **s == 200).count(),
                1,
                "{statuses:?}"
            );
            let admins: i64 =
                sqlx::query_scalar("SELECT count(*) FROM users WHERE admin AND active")
                    .fetch_one(&app.db)
                    .await
                    .unwrap();
            assert_eq!(admins, 1);
            // Promote the demoted one again, with a fresh admin token.
            let (demoted, keeper) = if x.status == 200 {
                (&first, &second)
            } else {
                (&second, &first)
            };
            let mut again = current_in(&app, demoted).await;
            again["admin"] = json!(true);
            assert_eq!(
                put(&app, &keeper.token, demoted.id, &again).await.status,
                200
            );
            // Its old token names it as an admin that was demoted since.
            sqlx::query("UPDATE users SET tokens_valid_from = '-infinity' WHERE id = $1")
                .bind(demoted.id)
                .execute(&app.db)
                .await
                .unwrap();
        }
        let last = app
            .call("DELETE", &path(first.id))
            .bearer(&first.token)
            .send()
            .await;
        last.problem(409);
    })
}

async fn current_in(app: &TestApp, who: &TestUser) -> Value {
    let reply = get(app, &who.token, who.id).await;
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    reply.json()
}
