//! GET /api/customers: keyset pages, filters, and parameter errors.

use api_tests::{app, block_on, unique_code};
use serde_json::{json, Value};
use std::collections::HashSet;

#[test]
fn pages_through_every_match_once_in_a_stable_order() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        // A name only this test uses, so `q` isolates its records.
        let tag = unique_code("pager");
        let mut created = Vec::new();
        for i in 0..7 {
            let res = app
                .create_customer(
                    &token,
                    &json!({"code": format!("{tag}-{i}"), "name": format!("Pager {tag} {i}")}),
                )
                .await;
            assert_eq!(res.status, 201);
            created.push(res.json()["id"].as_str().unwrap().to_owned());
        }

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/api/customers?limit=3&q={tag}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let res = app.call("GET", &path).bearer(&token).send().await;
            assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
            let body = res.json();
            let items = body["items"].as_array().unwrap();
            assert!(items.len() <= 3);
            seen.extend(items.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
            pages += 1;
            match &body["nextCursor"] {
                Value::String(c) => cursor = Some(c.clone()),
                Value::Null => break,
                other => panic!("nextCursor {other}"),
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, created, "every record once, oldest first");
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7);
    })
}

#[test]
fn filters_by_name_code_and_validity() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        let tag = unique_code("flt");
        let make = |code: String, name: String, from: &str, thru: &str| json!({"code": code, "name": name, "validFrom": from, "validThru": thru});
        for (i, (from, thru)) in [
            ("2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"),
            ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ]
        .iter()
        .enumerate()
        {
            let res = app
                .create_customer(
                    &token,
                    &make(
                        format!("{tag}-{i}"),
                        format!("Filter {tag} 100%_{i}"),
                        from,
                        thru,
                    ),
                )
                .await;
            assert_eq!(res.status, 201);
        }
        let names = |body: Value| -> Vec<String> {
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["code"].as_str().unwrap().to_owned())
                .collect()
        };
        let get = |query: String| {
            let token = token.clone();
            async move {
                let res = app
                    .call("GET", &format!("/api/customers?{query}"))
                    .bearer(&token)
                    .send()
                    .await;
                assert_eq!(
                    res.status,
                    200,
                    "{query}: {}",
                    String::from_utf8_lossy(&res.body)
                );
                names(res.json())
            }
        };
        let upper = tag.to_uppercase();
        assert_eq!(
            get(format!("q={upper}")).await,
            vec![format!("{tag}-0"), format!("{tag}-1")]
        );
        assert_eq!(
            get(format!("q={tag}%20100%25_1")).await,
            vec![format!("{tag}-1")],
            "% and _ match literally"
        );
        assert_eq!(
            get(format!("q={tag}%20100%25x")).await,
            Vec::<String>::new()
        );
        assert_eq!(
            get(format!("code={upper}-1")).await,
            vec![format!("{tag}-1")]
        );
        assert_eq!(
            get(format!("q={tag}&validOn=2020-06-01")).await,
            vec![format!("{tag}-0")]
        );
        assert_eq!(
            get(format!("q={tag}&validOn=2026-06-01T12:00:00%2B02:00")).await,
            vec![format!("{tag}-1")]
        );
        assert_eq!(
            get(format!("q={tag}&validOn=2030-01-01")).await,
            Vec::<String>::new()
        );
    })
}

#[test]
fn bad_parameters_are_400_naming_each() {
    block_on(async {
        let app = app().await;
        let (_, token) = app.token(false).await;
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=201", "limit"),
            ("limit=ten", "limit"),
            ("cursor=not-a-cursor", "cursor"),
            ("validOn=tomorrow", "validOn"),
            ("code=a%20b", "code"),
            ("sort=name", "sort"),
            ("q=a%00b", "q"),
        ] {
            let res = app
                .call("GET", &format!("/api/customers?{query}"))
                .bearer(&token)
                .send()
                .await;
            let problem = res.problem(400);
            assert_eq!(problem["errors"][0]["field"], field, "{query}");
        }
        let ok = app
            .call("GET", "/api/customers?limit=200")
            .bearer(&token)
            .send()
            .await;
        assert_eq!(ok.status, 200);
        assert!(ok.json()["items"].as_array().unwrap().len() <= 200);
    })
}
