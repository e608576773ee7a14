//! `spin:postgres/postgres@4.0.0` against the real Postgres: every Postgres
//! row of shared/reference/spin-verified.md, plus the outbound-host checks.

mod common;

use common::{build_probe, load_app, manifest_for_tests, options, pg_admin_url, probe, TestDb};
use serde_json::{json, Value};

/// Runs `steps` on one connection through the `probe` component.
async fn pg(app: &spintemp_host::App, steps: Value) -> Vec<Value> {
    let answer = probe(app, "/p?op=pg", json!({ "steps": steps })).await;
    assert_eq!(
        answer["open"],
        json!({ "ok": null }),
        "open failed: {answer}"
    );
    answer["results"].as_array().unwrap().clone()
}

async fn one(app: &spintemp_host::App, sql: &str, params: Value) -> Value {
    pg(app, json!([{ "query": sql, "params": params }]))
        .await
        .remove(0)
}

/// The single value of a one-row, one-column result.
fn scalar(result: &Value) -> &Value {
    assert!(result.get("ok").is_some(), "query failed: {result}");
    &result["ok"]["rows"][0][0]
}

#[tokio::test(flavor = "multi_thread")]
async fn values_map_like_spin() {
    let db = TestDb::create().await;
    let app = load_app(&db.url(), &[]).await;

    assert_eq!(
        *scalar(&one(&app, "SELECT 42::int8", json!([])).await),
        json!({ "Int64": 42 })
    );
    assert_eq!(
        *scalar(&one(&app, "SELECT 42", json!([])).await),
        json!({ "Int32": 42 })
    );
    assert_eq!(
        *scalar(&one(&app, "SELECT true", json!([])).await),
        json!({ "Boolean": true })
    );
    assert_eq!(
        *scalar(&one(&app, "SELECT NULL::text", json!([])).await),
        json!({ "DbNull": null })
    );
    assert_eq!(
        *scalar(&one(&app, "SELECT 12.50::numeric", json!([])).await),
        json!({ "Decimal": "12.50" })
    );
    assert_eq!(
        *scalar(&one(&app, "SELECT ARRAY['a','b']", json!([])).await),
        json!({ "ArrayStr": ["a", "b"] })
    );
    assert_eq!(
        *scalar(&one(&app, r#"SELECT '{"a": 1}'::jsonb"#, json!([])).await),
        json!({ "Jsonb": r#"{"a":1}"# })
    );
    let json_result = one(&app, r#"SELECT '{"a": 1}'::json AS j"#, json!([])).await;
    assert_eq!(
        *scalar(&json_result),
        json!({ "Unsupported": r#"{"a": 1}"# })
    );
    assert_eq!(
        json_result["ok"]["columns"][0]["type"],
        json!("DbDataType::Other(\"json\")")
    );

    let uuid = scalar(&one(&app, "SELECT gen_random_uuid()", json!([])).await)["Uuid"]
        .as_str()
        .expect("a Uuid value")
        .to_string();
    assert_eq!(uuid.len(), 36, "{uuid}");

    for sql in ["SELECT now()::timestamp", "SELECT now() AT TIME ZONE 'UTC'"] {
        let result = one(&app, sql, json!([])).await;
        let datetime = scalar(&result)["Datetime"].as_array().expect("a Datetime");
        assert_eq!(datetime.len(), 7, "{result}");
        assert!(datetime[0].as_i64().unwrap() >= 2024, "{result}");
        assert_eq!(
            result["ok"]["columns"][0]["type"],
            json!("DbDataType::Datetime")
        );
    }

    for (sql, expected) in [
        ("SELECT 1.5::float8", json!({ "Floating64": 1.5 })),
        ("SELECT 7::int2", json!({ "Int16": 7 })),
        ("SELECT 'x'::varchar", json!({ "Str": "x" })),
        ("SELECT '\\x0102'::bytea", json!({ "Binary": [1, 2] })),
        ("SELECT DATE '2024-02-29'", json!({ "Date": [2024, 2, 29] })),
        (
            "SELECT TIME '13:14:15.5'",
            json!({ "Time": [13, 14, 15, 500_000_000] }),
        ),
        (
            "SELECT ARRAY[1, NULL, 3]",
            json!({ "ArrayInt32": [1, null, 3] }),
        ),
        (
            "SELECT ARRAY[1.5]::numeric[]",
            json!({ "ArrayDecimal": ["1.5"] }),
        ),
        (
            "SELECT int4range(1, 5)",
            json!({ "RangeInt32": [[1, "RangeBoundKind::Inclusive"], [5, "RangeBoundKind::Exclusive"]] }),
        ),
        (
            "SELECT '(1.5,2.5]'::numrange",
            json!({ "RangeDecimal": [["1.5", "RangeBoundKind::Exclusive"], ["2.5", "RangeBoundKind::Inclusive"]] }),
        ),
        (
            "SELECT INTERVAL '1 month 2 days 3 seconds'",
            json!({ "Interval": { "micros": 3_000_000, "days": 2, "months": 1 } }),
        ),
        ("SELECT 'a'::name", json!({ "Unsupported": "a" })),
    ] {
        assert_eq!(*scalar(&one(&app, sql, json!([])).await), expected, "{sql}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn timestamptz_cannot_be_decoded() {
    let db = TestDb::create().await;
    let app = load_app(&db.url(), &[]).await;
    let result = one(&app, "SELECT now()", json!([])).await;
    let err = &result["err"];
    assert_eq!(err["variant"], "QueryFailed", "{result}");
    assert_eq!(err["kind"], "Text", "{result}");
    let text = err["text"].as_str().unwrap();
    assert!(text.contains("cannot convert between"), "{text}");
    assert!(text.contains("NaiveDateTime"), "{text}");
    assert!(text.contains("the Postgres type `timestamptz`"), "{text}");
    // What the guest sees must not depend on RUST_BACKTRACE in the host.
    assert!(!text.contains("backtrace"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn parameters_bind_as_fixed_rust_types() {
    let db = TestDb::create().await;
    let app = load_app(&db.url(), &[]).await;
    let uuid = "0190f0a3-55f4-7a4c-9d6c-1f2e3d4c5b6a";

    let str_as_uuid = one(&app, "SELECT $1::uuid", json!([{ "Str": uuid }])).await;
    let text = str_as_uuid["err"]["text"].as_str().unwrap_or_default();
    assert_eq!(
        str_as_uuid["err"]["variant"], "QueryFailed",
        "{str_as_uuid}"
    );
    assert!(text.contains("WrongType { postgres: Uuid"), "{text}");
    assert!(text.contains("String"), "{text}");

    let uuid_as_text = one(&app, "SELECT $1", json!([{ "Uuid": uuid }])).await;
    let text = uuid_as_text["err"]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("WrongType { postgres: Text"),
        "{uuid_as_text}"
    );
    assert!(text.contains("Uuid"), "{text}");

    let uuid_as_uuid = one(&app, "SELECT $1::uuid", json!([{ "Uuid": uuid }])).await;
    assert_eq!(*scalar(&uuid_as_uuid), json!({ "Uuid": uuid }));

    let jsonb = one(
        &app,
        "SELECT $1::jsonb",
        json!([{ "Jsonb": { "k": [1, 2] } }]),
    )
    .await;
    assert_eq!(*scalar(&jsonb), json!({ "Jsonb": r#"{"k":[1,2]}"# }));

    let epoch = one(
        &app,
        "SELECT $1::timestamptz AT TIME ZONE 'UTC'",
        json!([{ "Timestamp": 0 }]),
    )
    .await;
    assert_eq!(
        *scalar(&epoch),
        json!({ "Datetime": [1970, 1, 1, 0, 0, 0, 0] })
    );

    let datetime = one(
        &app,
        "SELECT $1::timestamp",
        json!([{ "Datetime": [2024, 2, 29, 13, 14, 15, 500_000_000] }]),
    )
    .await;
    assert_eq!(
        *scalar(&datetime),
        json!({ "Datetime": [2024, 2, 29, 13, 14, 15, 500_000_000] })
    );

    let decimal = one(
        &app,
        "SELECT $1::numeric + 1",
        json!([{ "Decimal": "1.25" }]),
    )
    .await;
    assert_eq!(*scalar(&decimal), json!({ "Decimal": "2.25" }));

    let null = one(&app, "SELECT $1::int4 IS NULL", json!([{ "DbNull": null }])).await;
    assert_eq!(*scalar(&null), json!({ "Boolean": true }));

    // A value that cannot be converted: BadParameter from query, like Spin.
    let bad = one(&app, "SELECT $1::uuid", json!([{ "Uuid": "not-a-uuid" }])).await;
    assert_eq!(bad["err"]["variant"], "BadParameter", "{bad}");
    let bad = pg(
        &app,
        json!([{ "execute": "SELECT $1::uuid", "params": [{ "Uuid": "nope" }] }]),
    )
    .await
    .remove(0);
    assert_eq!(bad["err"]["variant"], "ValueConversionFailed", "{bad}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_statement_per_call_and_structured_errors() {
    let db = TestDb::create().await;
    let app = load_app(&db.url(), &[]).await;

    let two = one(&app, "SELECT 1; SELECT 2", json!([])).await;
    assert_eq!(two["err"]["kind"], "DbError", "{two}");
    assert_eq!(two["err"]["code"], "42601", "{two}");
    assert_eq!(
        two["err"]["message"],
        "cannot insert multiple commands into a prepared statement"
    );

    let syntax = one(&app, "SELEC 1", json!([])).await;
    assert_eq!(syntax["err"]["variant"], "QueryFailed");
    assert_eq!(syntax["err"]["kind"], "DbError", "{syntax}");
    assert_eq!(syntax["err"]["code"], "42601");
    assert_eq!(syntax["err"]["severity"], "ERROR");

    let results = pg(
        &app,
        json!([
            { "execute": "CREATE TABLE items (id int PRIMARY KEY, label text)" },
            { "execute": "INSERT INTO items VALUES (1, 'a'), (2, 'b')" },
            // Through `execute`, a unique violation is a structured db-error.
            { "execute": "INSERT INTO items VALUES (1, 'again')" },
            // Through `query`, it is raised while rows stream: text (as in Spin).
            { "query": "INSERT INTO items VALUES (3, 'c'), (3, 'c') RETURNING id" },
            { "query": "INSERT INTO items VALUES (4, 'd'), (4, 'd')" },
            // Data-modifying CTEs are one statement and work.
            { "query": "WITH ins AS (INSERT INTO items VALUES (5, 'e') RETURNING id) SELECT id FROM ins" },
            { "query": "INSERT INTO items VALUES (1, 'x') ON CONFLICT DO NOTHING RETURNING id" },
        ]),
    )
    .await;
    assert_eq!(results[0], json!({ "ok": 0 }));
    assert_eq!(results[1], json!({ "ok": 2 }));

    let structured = &results[2]["err"];
    assert_eq!(structured["kind"], "DbError", "{}", results[2]);
    assert_eq!(structured["code"], "23505");
    assert_eq!(structured["detail"], "Key (id)=(1) already exists.");
    let extras = structured["extras"].as_array().unwrap();
    assert!(
        extras.contains(&json!(["constraint", "items_pkey"])),
        "{structured}"
    );

    for streamed in [&results[3], &results[4]] {
        assert_eq!(streamed["err"]["variant"], "QueryFailed", "{streamed}");
        assert_eq!(streamed["err"]["kind"], "Text", "{streamed}");
        let text = streamed["err"]["text"].as_str().unwrap();
        assert!(text.contains("E23505"), "{text}");
        assert!(text.contains("DbError"), "{text}");
        // Spin 4.0.2's wording: its structured error's Debug form.
        assert!(
            text.starts_with("Error::QueryFailed(QueryError::DbError(DbError {"),
            "{text}"
        );
        assert!(text.contains("code: \"23505\""), "{text}");
    }
    assert_eq!(results[5]["ok"]["rows"], json!([[{ "Int32": 5 }]]));
    // A conflict gives no row, which Spin 4.0.x never answers.
    assert_zero_row_failure(&results[6]);
}

/// The default host's answer to a `query` with no rows: an error that names
/// the Spin issue (Spin 4.0.0-4.0.2 would hang).
fn assert_zero_row_failure(result: &Value) {
    assert_eq!(result["err"]["variant"], "QueryFailed", "{result}");
    let text = result["err"]["text"].as_str().unwrap_or_default();
    assert!(text.contains("spinframework/spin#3671"), "{result}");
}

#[tokio::test(flavor = "multi_thread")]
async fn zero_row_queries_fail_like_spin_4_or_come_back_empty_like_spin_3() {
    let steps = json!([
        { "query": "SELECT 1 AS x WHERE false" },
        { "query": "SELECT (SELECT 1 WHERE false) AS x" },
        { "execute": "SELECT 1 WHERE false" },
    ]);

    let strict = load_app(&pg_admin_url(), &[]).await;
    let results = pg(&strict, steps.clone()).await;
    assert_zero_row_failure(&results[0]);
    // The one-row shapes the components use, and `execute`, are unaffected.
    assert_eq!(
        results[1]["ok"]["rows"],
        json!([[{ "DbNull": null }]]),
        "{}",
        results[1]
    );
    assert_eq!(results[2], json!({ "ok": 0 }));

    build_probe().await;
    let spin3 = spintemp_host::App::load(
        manifest_for_tests(),
        spintemp_host::HostOptions {
            zero_row_queries: spintemp_host::ZeroRowQueries::Empty,
            ..options(&pg_admin_url(), &[])
        },
    )
    .await
    .unwrap();
    let results = pg(&spin3, steps).await;
    assert_eq!(results[0]["ok"], json!({ "columns": [], "rows": [] }));
    assert_eq!(results[1]["ok"]["rows"], json!([[{ "DbNull": null }]]));
}

#[tokio::test(flavor = "multi_thread")]
async fn transactions_span_calls_on_one_connection() {
    let db = TestDb::create().await;
    let app = load_app(&db.url(), &[]).await;
    let results = pg(
        &app,
        json!([
            { "execute": "CREATE TABLE ledger (id int PRIMARY KEY)" },
            { "execute": "BEGIN" },
            { "execute": "INSERT INTO ledger VALUES (1)" },
            { "query": "SELECT count(*) FROM ledger" },
            { "execute": "ROLLBACK" },
            { "query": "SELECT count(*) FROM ledger" },
            { "execute": "BEGIN" },
            { "execute": "INSERT INTO ledger VALUES (2)" },
            { "execute": "COMMIT" },
        ]),
    )
    .await;
    assert!(results.iter().all(|r| r.get("ok").is_some()), "{results:?}");
    assert_eq!(results[3]["ok"]["rows"], json!([[{ "Int64": 1 }]]));
    assert_eq!(results[5]["ok"]["rows"], json!([[{ "Int64": 0 }]]));

    // Another request (another instance, another pooled connection) sees
    // exactly the committed row.
    let seen = one(&app, "SELECT array_agg(id)::int4[] FROM ledger", json!([])).await;
    assert_eq!(*scalar(&seen), json!({ "ArrayInt32": [2] }));
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_is_attempted_unless_sslmode_disable() {
    let app = load_app(&pg_admin_url(), &[]).await;
    // The local server has SSL on with a self-signed certificate.
    let address = pg_admin_url().replace("?sslmode=disable", "");
    assert!(!address.contains("sslmode"), "{address}");
    let answer = probe(&app, "/p?op=pg", json!({ "address": address, "steps": [] })).await;
    let err = &answer["open"]["err"];
    assert_eq!(err["variant"], "ConnectionFailed", "{answer}");
    let text = err["text"].as_str().unwrap().to_lowercase();
    assert!(
        text.contains("certificate") || text.contains("tls"),
        "{text}"
    );

    let answer = probe(
        &app,
        "/p?op=pg",
        json!({ "address": pg_admin_url(), "steps": [{ "query": "SELECT 1" }] }),
    )
    .await;
    assert_eq!(
        answer["results"][0]["ok"]["rows"],
        json!([[{ "Int32": 1 }]])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hosts_not_allowed_fail_before_connecting() {
    let app = load_app(&pg_admin_url(), &[]).await;

    // probe-nopg's allowed_outbound_hosts omit Postgres.
    let answer = probe(&app, "/nopg/?op=pg", json!({ "steps": [] })).await;
    assert_eq!(
        answer["open"]["err"],
        json!({
            "variant": "ConnectionFailed",
            "text": "address postgres://127.0.0.1:5432 is not permitted"
        })
    );

    // probe may reach 127.0.0.1:5432 only; another port or host is refused
    // without any connection attempt (nothing listens there either way).
    for (address, denied) in [
        (
            "postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable",
            "127.0.0.1:5433",
        ),
        ("host=127.0.0.2 user=postgres sslmode=disable", "127.0.0.2"),
    ] {
        let answer = probe(&app, "/p?op=pg", json!({ "address": address, "steps": [] })).await;
        assert_eq!(
            answer["open"]["err"],
            json!({
                "variant": "ConnectionFailed",
                "text": format!("address postgres://{denied} is not permitted")
            }),
            "{address}"
        );
    }
}
