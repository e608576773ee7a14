//! The bearer-token guard, seen from outside.

use api_tests::{app, block_on};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;
use spintemp_admin::token::{self, Claims};

fn claims() -> Claims {
    Claims::new(uuid::Uuid::now_v7(), "someone@example.com", false, 3600)
}

#[test]
fn every_customer_route_needs_a_valid_token() {
    block_on(async {
        let app = app().await;
        let id = uuid::Uuid::now_v7();
        let mut expired = claims();
        expired.iat -= 7200;
        expired.exp -= 7200;
        let mut wrong_audience = claims();
        wrong_audience.aud = "someone-else".into();
        let mut wrong_issuer = claims();
        wrong_issuer.iss = "someone-else".into();
        let other_keys = spintemp_admin::keys::generate();
        let hs256 = encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(app.keys.public_pem.as_bytes()),
        )
        .unwrap();
        let unsigned = {
            let good = token::mint(&claims(), &app.keys.private_pem).unwrap();
            let payload = good.split('.').nth(1).unwrap().to_owned();
            // {"alg":"none","typ":"JWT"}
            format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")
        };
        let bad_tokens = vec![
            ("none", None),
            ("garbage", Some("Bearer not.a.token".to_owned())),
            ("basic", Some("Basic dXNlcjpwYXNz".to_owned())),
            (
                "expired",
                Some(format!(
                    "Bearer {}",
                    token::mint(&expired, &app.keys.private_pem).unwrap()
                )),
            ),
            (
                "audience",
                Some(format!(
                    "Bearer {}",
                    token::mint(&wrong_audience, &app.keys.private_pem).unwrap()
                )),
            ),
            (
                "issuer",
                Some(format!(
                    "Bearer {}",
                    token::mint(&wrong_issuer, &app.keys.private_pem).unwrap()
                )),
            ),
            (
                "other key",
                Some(format!(
                    "Bearer {}",
                    token::mint(&claims(), &other_keys.private_pem).unwrap()
                )),
            ),
            ("hs256 with the public key", Some(format!("Bearer {hs256}"))),
            ("alg none", Some(format!("Bearer {unsigned}"))),
        ];
        let routes = [
            ("GET", "/api/customers".to_owned()),
            ("POST", "/api/customers".to_owned()),
            ("GET", format!("/api/customers/{id}")),
            ("PUT", format!("/api/customers/{id}")),
            ("DELETE", format!("/api/customers/{id}")),
        ];
        for (method, path) in &routes {
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
        let (_, good) = app.token(false);
        let res = app.call("GET", "/api/customers").bearer(&good).send().await;
        assert_eq!(res.status, 200);
    })
}
