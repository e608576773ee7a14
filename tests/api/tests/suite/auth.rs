//! The bearer-token guard, seen from outside.

use api_tests::{app, block_on, workspace_root, TestApp};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;
use spintemp_admin::token::{self, Claims, DEFAULT_MAX_LIFETIME_SECONDS};

fn claims() -> Claims {
    Claims::new(uuid::Uuid::now_v7(), "someone@example.com", false, 3600)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Every route that checks a token: the customers operations and the audit
/// trail (each its own component, each reading its own variables).
fn routes() -> Vec<(&'static str, String)> {
    let id = uuid::Uuid::now_v7();
    vec![
        ("GET", "/api/customers".to_owned()),
        ("POST", "/api/customers".to_owned()),
        ("GET", format!("/api/customers/{id}")),
        ("PUT", format!("/api/customers/{id}")),
        ("DELETE", format!("/api/customers/{id}")),
        ("GET", "/api/audit".to_owned()),
        ("GET", format!("/api/audit/{id}")),
    ]
}

fn bearer(claims: &Claims, private_pem: &str) -> Option<String> {
    Some(format!(
        "Bearer {}",
        token::mint(claims, private_pem).unwrap()
    ))
}

#[test]
fn every_customer_route_needs_a_valid_token() {
    block_on(async {
        let app = app().await;
        let key = &app.keys.private_pem;
        let mut expired = claims();
        expired.iat -= 7200;
        expired.exp -= 7200;
        let mut wrong_audience = claims();
        wrong_audience.aud = "someone-else".into();
        let mut wrong_issuer = claims();
        wrong_issuer.iss = "someone-else".into();
        // Past the minute of clock skew the guard allows.
        let mut not_yet = claims();
        not_yet.nbf = Some(now() + 300);
        let mut issued_in_the_future = claims();
        issued_in_the_future.iat = now() + 300;
        issued_in_the_future.exp = issued_in_the_future.iat + 3600;
        let too_long = Claims::new(
            uuid::Uuid::now_v7(),
            "someone@example.com",
            true,
            DEFAULT_MAX_LIFETIME_SECONDS + 3600,
        );
        // Minted ten days ago for eleven: an hour left, but a lifetime far
        // over the maximum.
        let mut long_lived_and_old = claims();
        long_lived_and_old.iat = now() - 10 * 86_400;
        long_lived_and_old.exp = now() + 3600;

        let other_keys = spintemp_admin::keys::generate();
        let hs256 = encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(app.keys.public_pem.as_bytes()),
        )
        .unwrap();
        let unsigned = {
            let good = token::mint(&claims(), key).unwrap();
            let payload = good.split('.').nth(1).unwrap().to_owned();
            // {"alg":"none","typ":"JWT"}
            format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")
        };
        let bad_tokens = vec![
            ("none", None),
            ("garbage", Some("Bearer not.a.token".to_owned())),
            ("basic", Some("Basic dXNlcjpwYXNz".to_owned())),
            ("expired", bearer(&expired, key)),
            ("audience", bearer(&wrong_audience, key)),
            ("issuer", bearer(&wrong_issuer, key)),
            ("nbf in the future", bearer(&not_yet, key)),
            ("iat in the future", bearer(&issued_in_the_future, key)),
            (
                "exp too far away (lifetime over the maximum)",
                bearer(&too_long, key),
            ),
            (
                "old, but minted for too long",
                bearer(&long_lived_and_old, key),
            ),
            ("other key", bearer(&claims(), &other_keys.private_pem)),
            ("hs256 with the public key", Some(format!("Bearer {hs256}"))),
            ("alg none", Some(format!("Bearer {unsigned}"))),
        ];
        for (method, path) in &routes() {
            for (why, header) in &bad_tokens {
                let mut call = app
                    .call(method, path)
                    .json(&json!({"code": "x", "name": "y"}));
                if let Some(h) = header {
                    call = call.header("authorization", h);
                }
                let res = call.send().await;
                assert_eq!(res.status, 401, "{method} {path} with {why}");
                res.problem(401);
                assert_eq!(res.header("www-authenticate"), Some("Bearer"), "{why}");
            }
        }
        // Again, each with a genuine memo entry (as if it had passed the
        // full check once): a hit skips only the signature, so every token
        // refused for its header or claims is still refused. (A token signed
        // by another key *would* pass with such an entry: making one takes
        // the memo key, which is the threat model ARCHITECTURE.md records.)
        for (why, header) in &bad_tokens {
            let Some(token) = header.as_deref().and_then(|h| h.strip_prefix("Bearer ")) else {
                continue;
            };
            if *why == "other key" {
                continue;
            }
            app.plant_memo(&app.memo_digest(token), now() + 3600);
            for (method, path) in &routes()[..3] {
                let res = app
                    .call(method, path)
                    .header("authorization", header.as_deref().unwrap())
                    .json(&json!({"code": "x", "name": "y"}))
                    .send()
                    .await;
                assert_eq!(
                    res.status, 401,
                    "{method} {path} with {why} and a memo entry"
                );
            }
        }
        let (_, good) = app.token(false).await;
        let res = app.call("GET", "/api/customers").bearer(&good).send().await;
        assert_eq!(res.status, 200);
    })
}

/// The other side of the leeway and the maximum: what must keep working.
#[test]
fn small_clock_skew_and_the_longest_lifetime_are_accepted() {
    block_on(async {
        let app = app().await;
        let key = &app.keys.private_pem;
        // Minted by a machine whose clock runs 30 s ahead of ours.
        let mut ahead = claims();
        ahead.iat = now() + 30;
        ahead.nbf = Some(ahead.iat);
        ahead.exp = ahead.iat + 3600;
        // Expired 30 s ago by our clock, i.e. just now by a slower one.
        let mut behind = claims();
        behind.iat = now() - 3630;
        behind.exp = now() - 30;
        let mut started = claims();
        started.nbf = Some(now() - 10);
        let longest = Claims::new(
            uuid::Uuid::now_v7(),
            "someone@example.com",
            false,
            DEFAULT_MAX_LIFETIME_SECONDS,
        );
        for (why, claims) in [
            ("clock ahead", &ahead),
            ("clock behind", &behind),
            ("nbf passed", &started),
            ("the longest lifetime", &longest),
        ] {
            let res = app
                .call("GET", "/api/customers")
                .header("authorization", &bearer(claims, key).unwrap())
                .send()
                .await;
            assert_eq!(
                res.status,
                200,
                "{why}: {}",
                String::from_utf8_lossy(&res.body)
            );
        }
    })
}

#[test]
fn the_maximum_lifetime_is_configurable() {
    block_on(async {
        let app = TestApp::start(&[("token_max_lifetime_seconds", "600")])
            .await
            .unwrap();
        let key = &app.keys.private_pem;
        let short = Claims::new(uuid::Uuid::now_v7(), "a@example.com", true, 600);
        let hour = Claims::new(uuid::Uuid::now_v7(), "a@example.com", true, 3600);
        for (method, path) in &routes() {
            let res = app
                .call(method, path)
                .header("authorization", &bearer(&hour, key).unwrap())
                .json(&json!({"code": "x", "name": "y"}))
                .send()
                .await;
            assert_eq!(res.status, 401, "{method} {path} with a one-hour token");
            res.problem(401);
        }
        let res = app
            .call("GET", "/api/customers")
            .header("authorization", &bearer(&short, key).unwrap())
            .send()
            .await;
        assert_eq!(res.status, 200);
    })
}

/// A maximum that is not a number of seconds must not fall back to
/// accepting tokens: every authenticated route answers 500 (the log names
/// the variable), whatever the token.
#[test]
fn a_bad_maximum_lifetime_refuses_every_token() {
    block_on(async {
        for bad in ["", "a day", "3600s", "0", "-60", "1.5"] {
            let app = TestApp::start(&[("token_max_lifetime_seconds", bad)])
                .await
                .unwrap();
            let (_, token) = app.token(true).await;
            for (method, path) in &routes() {
                let res = app
                    .call(method, path)
                    .bearer(&token)
                    .json(&json!({"code": "x", "name": "y"}))
                    .send()
                    .await;
                res.problem(500);
                let detail = res.json()["detail"].as_str().unwrap().to_owned();
                assert!(
                    !detail.contains("token_max_lifetime_seconds"),
                    "{bad:?}: configuration stays out of the response: {detail}"
                );
            }
        }
    })
}

/// `spintemp-admin token` refuses lifetimes over this default, so the two
/// must say the same.
#[test]
fn the_default_maximum_in_spin_toml_is_the_one_the_admin_tool_enforces() {
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(workspace_root().join("spin.toml")).unwrap())
            .unwrap();
    let default = manifest["variables"]["token_max_lifetime_seconds"]["default"]
        .as_str()
        .unwrap();
    assert_eq!(default, DEFAULT_MAX_LIFETIME_SECONDS.to_string());
}
