//! Registering, logging in, refreshing and logging out, end to end: the
//! flows a new user goes through, and what an attacker would try on them.

use api_tests::{app, block_on, request_id, Reply, TestApp, TEST_PASSWORD};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.com", Uuid::now_v7().simple())
}

/// An address of its own for a test, so that no other test's attempts count
/// against its limits.
pub fn unique_address() -> SocketAddr {
    let id = Uuid::now_v7().as_u128();
    SocketAddr::from(([10, (id >> 16) as u8, (id >> 8) as u8, id as u8], 40000))
}

pub async fn register(app: &TestApp, email: &str, password: &str) -> Reply {
    app.call("POST", "/api/auth/register")
        .json(
            &json!({"email": email, "firstName": "Ana", "lastName": "Lima", "password": password}),
        )
        .send()
        .await
}

pub async fn login(app: &TestApp, email: &str, password: &str) -> Reply {
    app.call("POST", "/api/auth/login")
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Reply {
    app.call("POST", "/api/auth/refresh")
        .json(&json!({"refreshToken": refresh_token}))
        .send()
        .await
}

/// The claims of a JWT, read without checking it.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Nothing secret in anything the API sends.
#[track_caller]
fn no_secrets(reply: &Reply, password: &str) {
    let text = String::from_utf8_lossy(&reply.body);
    assert!(!text.contains(password), "the password came back: {text}");
    assert!(!text.contains("argon2"), "a hash came back: {text}");
    assert!(!text.to_lowercase().contains("passwordhash"), "{text}");
}

#[test]
fn a_new_user_registers_logs_in_refreshes_and_logs_out() {
    block_on(async {
        let app = app().await;
        let email = unique_email("flow");
        let password = "correct horse battery";

        let registered = register(app, &email, password).await;
        assert_eq!(registered.status, 201, "{:?}", registered.json());
        no_secrets(&registered, password);
        let user = registered.json();
        let id = user["id"].as_str().unwrap().to_owned();
        assert_eq!(
            registered.header("location"),
            Some(format!("/api/users/{id}").as_str())
        );
        assert_eq!(
            (user["active"].clone(), user["admin"].clone()),
            (json!(true), json!(false))
        );
        assert_eq!(user["name"], "Ana Lima");
        assert_eq!(
            user["createdBy"], user["id"],
            "the new user is its own creator"
        );

        let logged_in = login(app, &email.to_uppercase(), password).await;
        assert_eq!(logged_in.status, 200, "{:?}", logged_in.json());
        no_secrets(&logged_in, password);
        let session = logged_in.json();
        assert_eq!(session["tokenType"], "Bearer");
        assert_eq!(session["expiresIn"], 900);
        assert_eq!(session["user"], user);
        let access = session["accessToken"].as_str().unwrap();
        let refresh_token = session["refreshToken"].as_str().unwrap().to_owned();
        assert_eq!(URL_SAFE_NO_PAD.decode(&refresh_token).unwrap().len(), 32);
        let c = claims(access);
        assert_eq!(
            (c["sub"].as_str(), c["iss"].as_str(), c["aud"].as_str()),
            (Some(id.as_str()), Some("spintemp"), Some("spintemp-api"))
        );
        assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);
        let cookie = logged_in.header("set-cookie").unwrap();
        for part in [
            format!("spintemp_refresh={refresh_token}").as_str(),
            "Path=/api/auth",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
        ] {
            assert!(cookie.contains(part), "{cookie}");
        }
        // Only the hash is stored.
        let stored: i64 =
            sqlx::query_scalar("SELECT count(*) FROM refresh_tokens WHERE token_hash = $1")
                .bind(&refresh_token)
                .fetch_one(&app.db)
                .await
                .unwrap();
        assert_eq!(stored, 0);

        let me = app.call("GET", "/api/auth/me").bearer(access).send().await;
        assert_eq!(me.status, 200);
        assert_eq!(me.json(), user);
        // The token writes, and the record names a real user as its author.
        let created = app
            .create_customer(
                access,
                &json!({"code": api_tests::unique_code("mine"), "name": "Mine"}),
            )
            .await;
        assert_eq!(created.status, 201);
        assert_eq!(created.json()["createdBy"].as_str(), Some(id.as_str()));

        let refreshed = refresh(app, &refresh_token).await;
        assert_eq!(refreshed.status, 200);
        let next = refreshed.json();
        assert_ne!(next["refreshToken"].as_str(), Some(refresh_token.as_str()));
        assert_eq!(
            app.call("GET", "/api/auth/me")
                .bearer(next["accessToken"].as_str().unwrap())
                .send()
                .await
                .status,
            200
        );

        // The used one is refused...
        refresh(app, &refresh_token).await.problem(401);
        // ...and its reuse revoked the family: the new one is dead too.
        refresh(app, next["refreshToken"].as_str().unwrap())
            .await
            .problem(401);

        // A fresh session ends with logout.
        let session = login(app, &email, password).await.json();
        let token = session["refreshToken"].as_str().unwrap();
        let out = app
            .call("POST", "/api/auth/logout")
            .json(&json!({"refreshToken": token}))
            .send()
            .await;
        assert_eq!(out.status, 204);
        assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
        refresh(app, token).await.problem(401);
    })
}

#[test]
fn the_cookie_refreshes_but_only_with_a_json_body() {
    block_on(async {
        let app = app().await;
        let user = app.user(false).await;
        let session = login(app, &user.email, TEST_PASSWORD).await.json();
        let cookie = format!(
            "spintemp_refresh={}",
            session["refreshToken"].as_str().unwrap()
        );
        // What a cross-site form could send: refused before the token is looked at.
        let form = app
            .call("POST", "/api/auth/refresh")
            .header("cookie", &cookie)
            .body_bytes("application/x-www-form-urlencoded", "a=b")
            .send()
            .await;
        form.problem(415);
        let by_cookie = app
            .call("POST", "/api/auth/refresh")
            .header("cookie", &format!("theme=dark; {cookie}"))
            .json(&json!({}))
            .send()
            .await;
        assert_eq!(by_cookie.status, 200, "{:?}", by_cookie.json());
        let out = app
            .call("POST", "/api/auth/logout")
            .header(
                "cookie",
                &format!(
                    "spintemp_refresh={}",
                    by_cookie.json()["refreshToken"].as_str().unwrap()
                ),
            )
            .json(&json!({}))
            .send()
            .await;
        assert_eq!(out.status, 204);
        refresh(app, by_cookie.json()["refreshToken"].as_str().unwrap())
            .await
            .problem(401);
        // Nothing presented at all.
        app.call("POST", "/api/auth/refresh")
            .json(&json!({}))
            .send()
            .await
            .problem(401);
        app.call("POST", "/api/auth/refresh")
            .json(&json!({"refreshToken": "x", "extra": 1}))
            .send()
            .await
            .problem(422);
    })
}

#[test]
fn two_refreshes_of_one_token_at_once_give_exactly_one_new_pair() {
    block_on(async {
        let app = app().await;
        let user = app.user(false).await;
        for _ in 0..5 {
            let session = login(app, &user.email, TEST_PASSWORD).await.json();
            let token = session["refreshToken"].as_str().unwrap();
            let (a, b) = tokio::join!(refresh(app, token), refresh(app, token));
            let winners: Vec<&Reply> = [&a, &b].into_iter().filter(|r| r.status == 200).collect();
            assert_eq!(winners.len(), 1, "statuses {} and {}", a.status, b.status);
            let loser = if a.status == 200 { &b } else { &a };
            loser.problem(401);
            let issued: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM refresh_tokens WHERE family_id = \
                   (SELECT family_id FROM refresh_tokens WHERE token_hash = encode(sha256($1::bytea), 'hex'))",
            )
            .bind(token.as_bytes())
            .fetch_one(&app.db)
            .await
            .unwrap();
            assert_eq!(issued, 2, "the login's token and exactly one successor");
        }
    })
}

#[test]
fn unknown_emails_and_wrong_passwords_get_the_same_answer_in_the_same_time() {
    block_on(async {
        let app = app().await;
        let mut users = Vec::new();
        for _ in 0..20 {
            users.push(app.user(false).await);
        }
        // Warm both paths (instances compile lazily).
        login(app, &users[0].email, "wrong password")
            .await
            .problem(401);
        login(app, &unique_email("nobody"), "wrong password")
            .await
            .problem(401);
        let mut wrong_password = Vec::new();
        let mut unknown_email = Vec::new();
        let mut details = Vec::new();
        for user in &users[1..] {
            let start = Instant::now();
            let reply = login(app, &user.email, "wrong password").await;
            wrong_password.push(start.elapsed());
            details.push(reply.problem(401)["detail"].clone());
            let start = Instant::now();
            let reply = login(app, &unique_email("nobody"), "wrong password").await;
            unknown_email.push(start.elapsed());
            details.push(reply.problem(401)["detail"].clone());
        }
        details.dedup();
        assert_eq!(details.len(), 1, "one answer for both: {details:?}");
        let median = |times: &mut Vec<Duration>| {
            times.sort();
            times[times.len() / 2].as_secs_f64()
        };
        let (a, b) = (median(&mut wrong_password), median(&mut unknown_email));
        assert!(
            (a - b).abs() <= 0.25 * a.max(b),
            "wrong password {a:.3} s, unknown email {b:.3} s"
        );
    })
}

#[test]
fn registration_takes_only_what_a_new_user_may_set() {
    block_on(async {
        let app = app().await;
        let email = unique_email("reg");
        let id = request_id();
        let bad = app
            .call("POST", "/api/auth/register")
            .header("x-request-id", &id)
            .json(
                &json!({"email": "not an address", "firstName": "", "lastName": "B",
                          "password": "short", "admin": true, "active": false}),
            )
            .send()
            .await;
        let problem = bad.problem(422);
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            vec!["email", "firstName", "password", "active", "admin"]
        );
        assert!(!String::from_utf8_lossy(&bad.body).contains("short"));
        assert!(app.outbox_for_request(&id).await.is_empty());

        let id = request_id();
        let created = app
            .call("POST", "/api/auth/register")
            .header("x-request-id", &id)
            .json(&json!({"email": email, "firstName": "Ana", "lastName": "Lima", "company": "Ducks", "password": "long enough"}))
            .send()
            .await;
        assert_eq!(created.status, 201);
        let events = app.outbox_for_request(&id).await;
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(
            (
                event.object_type.as_str(),
                event.action.as_str(),
                event.operation.as_str()
            ),
            ("user", "create", "auth-register")
        );
        assert_eq!(
            event.actor.to_string(),
            created.json()["id"].as_str().unwrap()
        );
        assert_eq!(event.after.as_ref().unwrap(), &created.json());
        assert!(!serde_json::to_string(&event.after)
            .unwrap()
            .contains("argon2"));
        let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(event.object_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(domain::password::verify("long enough", &hash));

        let again = register(app, &email.to_uppercase(), "long enough").await;
        again.problem(409);
        app.call("GET", "/api/auth/register")
            .send()
            .await
            .problem(405);
    })
}

#[test]
fn failed_logins_are_throttled_per_email_and_per_address() {
    block_on(async {
        // spin.toml's defaults: 5 failures per email, 50 per address, per 15
        // minutes (the shared app lifts the per-address limits).
        let app = TestApp::start(&[
            ("login_failures_per_address", "50"),
            ("registrations_per_address", "20"),
        ])
        .await
        .unwrap();
        let app = &app;
        let victim = app.user(false).await;
        let from = unique_address();
        let attempt = |email: String, password: &'static str, from: SocketAddr| async move {
            app.call("POST", "/api/auth/login")
                .from(from)
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
        };
        for _ in 0..5 {
            attempt(victim.email.clone(), "guess", from)
                .await
                .problem(401);
        }
        // The sixth, even with the right password and from elsewhere, waits.
        let throttled = attempt(victim.email.clone(), TEST_PASSWORD, unique_address()).await;
        let problem = throttled.problem(429);
        let retry_after: u64 = throttled.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry_after), "{retry_after}");
        // An email without an account gets exactly the same treatment.
        let nobody = unique_email("nobody");
        for _ in 0..5 {
            attempt(nobody.clone(), "guess", from).await.problem(401);
        }
        let same = attempt(nobody, "guess", unique_address())
            .await
            .problem(429);
        assert_eq!(
            same["detail"].as_str().unwrap().split(';').next(),
            problem["detail"].as_str().unwrap().split(';').next()
        );

        // Per address: 50 failures across any emails.
        let crowd = unique_address();
        for i in 0..50 {
            attempt(unique_email(&format!("spray{i}")), "guess", crowd)
                .await
                .problem(401);
        }
        let other = app.user(false).await;
        attempt(other.email.clone(), TEST_PASSWORD, crowd)
            .await
            .problem(429);
        assert_eq!(
            attempt(other.email, TEST_PASSWORD, unique_address())
                .await
                .status,
            200
        );
    })
}

#[test]
fn registrations_are_limited_per_address() {
    block_on(async {
        let app = TestApp::start(&[("registrations_per_address", "3")])
            .await
            .unwrap();
        let from = unique_address();
        for _ in 0..3 {
            let reply = app
                .call("POST", "/api/auth/register")
                .from(from)
                .json(&json!({"email": unique_email("many"), "firstName": "A", "lastName": "B", "password": "long enough"}))
                .send()
                .await;
            assert_eq!(reply.status, 201);
        }
        let fourth = app
            .call("POST", "/api/auth/register")
            .from(from)
            .json(&json!({"email": unique_email("many"), "firstName": "A", "lastName": "B", "password": "long enough"}))
            .send()
            .await;
        fourth.problem(429);
        assert!(fourth.header("retry-after").is_some());
    })
}

#[test]
fn login_works_when_the_throttling_redis_is_down() {
    block_on(async {
        let app = TestApp::start(&[("redis_url", "redis://127.0.0.1:1")])
            .await
            .unwrap();
        let user = app.user(false).await;
        login(&app, &user.email, "wrong").await.problem(401);
        assert_eq!(login(&app, &user.email, TEST_PASSWORD).await.status, 200);
        assert_eq!(
            register(&app, &unique_email("noredis"), "long enough")
                .await
                .status,
            201
        );
    })
}

#[test]
fn the_memo_skips_only_the_signature_and_cannot_be_planted() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        assert!(!app.memo_holds(&token));
        assert_eq!(
            app.call("GET", "/api/customers?limit=1")
                .bearer(&token)
                .send()
                .await
                .status,
            200
        );
        assert!(app.memo_holds(&token), "a verified token is remembered");
        assert_eq!(
            app.call("GET", "/api/customers?limit=1")
                .bearer(&token)
                .send()
                .await
                .status,
            200
        );

        // A tampered copy of a remembered token (now an admin's): a miss, and
        // its signature fails.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut c = claims(&token);
        c["admin"] = json!(true);
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        let tampered = parts.join(".");
        app.call("GET", "/api/audit")
            .bearer(&tampered)
            .send()
            .await
            .problem(401);

        // A forged token (another key) next to entries an attacker without
        // the memo key could plant: under its plain hash, or an HMAC with a
        // key of their own.
        let forger = spintemp_admin::keys::generate();
        let forged = spintemp_admin::token::mint(
            &spintemp_admin::token::Claims::new(Uuid::now_v7(), "x@example.com", true, 600),
            &forger.private_pem,
        )
        .unwrap();
        let far_future = chrono::Utc::now().timestamp() + 3600;
        use sha2::Digest;
        let plain: String = sha2::Sha256::digest(forged.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        app.plant_memo(&plain, far_future);
        let own: [u8; 32] = STANDARD
            .decode(&forger.memo_key)
            .unwrap()
            .try_into()
            .unwrap();
        app.plant_memo(
            &kit::auth::memo::digest(&own, app.keys.public_pem.trim(), &forged),
            far_future,
        );
        app.call("GET", "/api/audit")
            .bearer(&forged)
            .send()
            .await
            .problem(401);

        // Even a genuine memo entry does not make a token's claims good: an
        // expired token, signed by the real key, stays refused.
        let mut expired =
            spintemp_admin::token::Claims::new(Uuid::now_v7(), "x@example.com", false, 600);
        expired.iat -= 3600;
        expired.exp -= 3600;
        let expired = spintemp_admin::token::mint(&expired, &app.keys.private_pem).unwrap();
        app.plant_memo(&app.memo_digest(&expired), far_future);
        app.call("GET", "/api/customers")
            .bearer(&expired)
            .send()
            .await
            .problem(401);
        let mut foreign =
            spintemp_admin::token::Claims::new(Uuid::now_v7(), "x@example.com", false, 600);
        foreign.aud = "someone-else".into();
        let foreign = spintemp_admin::token::mint(&foreign, &app.keys.private_pem).unwrap();
        app.plant_memo(&app.memo_digest(&foreign), far_future);
        app.call("GET", "/api/customers")
            .bearer(&foreign)
            .send()
            .await
            .problem(401);
    })
}
