//! `fermyon:spin/redis@2.0.0` against the real Redis: the Redis rows of
//! shared/reference/spin-verified.md and Spin's result conversions.

mod common;

use common::{load_app, pg_admin_url, probe, redis_url, unique};
use serde_json::{json, Value};

async fn redis(app: &spintemp_host::App, uri: &str, steps: Value) -> Vec<Value> {
    let answer = probe(app, uri, json!({ "steps": steps })).await;
    assert_eq!(
        answer["open"],
        json!({ "ok": null }),
        "open failed: {answer}"
    );
    answer["results"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_and_conversions() {
    let app = load_app(&pg_admin_url(), &[]).await;
    let key = unique("spintemp_host_key");
    let counter = format!("{key}:n");
    let set = format!("{key}:set");
    let stream = format!("{key}:stream");
    let missing = format!("{key}:missing");

    let results = redis(
        &app,
        "/p?op=redis",
        json!([
            { "op": "set", "key": key, "value": "v1" },
            { "op": "get", "key": key },
            { "op": "get", "key": missing },
            { "op": "execute", "command": "SET", "args": [
                { "Binary": key }, { "Binary": "v2" }, { "Binary": "EX" }, { "Int64": 60 } ] },
            { "op": "execute", "command": "TTL", "args": [{ "Binary": key }] },
            { "op": "get", "key": key },
            { "op": "incr", "key": counter },
            { "op": "incr", "key": counter },
            { "op": "sadd", "key": set, "values": ["a", "b", "a"] },
            { "op": "srem", "key": set, "values": ["a"] },
            { "op": "smembers", "key": set },
            { "op": "execute", "command": "XADD", "args": [
                { "Binary": stream }, { "Binary": "1-1" }, { "Binary": "field" }, { "Binary": "value" } ] },
            // XRANGE replies [[id, [field, value]]]: Spin flattens nested arrays.
            { "op": "execute", "command": "XRANGE", "args": [
                { "Binary": stream }, { "Binary": "-" }, { "Binary": "+" } ] },
            { "op": "execute", "command": "GET", "args": [{ "Binary": missing }] },
            { "op": "publish", "channel": key, "payload": "hello" },
            { "op": "del", "keys": [key, counter, set, stream, missing] },
            { "op": "get", "key": key },
        ]),
    )
    .await;

    assert_eq!(results[0], json!({ "ok": null }));
    assert_eq!(results[1], json!({ "ok": "v1" }));
    assert_eq!(results[2], json!({ "ok": null }), "a missing key is None");
    assert_eq!(results[3], json!({ "ok": [{ "Status": "OK" }] }));
    let ttl = results[4]["ok"][0]["Int64"].as_i64().unwrap();
    assert!((1..=60).contains(&ttl), "TTL works through execute: {ttl}");
    assert_eq!(results[5], json!({ "ok": "v2" }));
    assert_eq!(results[6], json!({ "ok": 1 }));
    assert_eq!(results[7], json!({ "ok": 2 }));
    assert_eq!(results[8], json!({ "ok": 2 }));
    assert_eq!(results[9], json!({ "ok": 1 }));
    assert_eq!(results[10], json!({ "ok": ["b"] }));
    assert_eq!(results[11], json!({ "ok": [{ "Binary": "1-1" }] }));
    assert_eq!(
        results[12],
        json!({ "ok": [{ "Binary": "1-1" }, { "Binary": "field" }, { "Binary": "value" }] })
    );
    assert_eq!(results[13], json!({ "ok": [{ "Nil": null }] }));
    assert_eq!(results[14], json!({ "ok": null }));
    assert_eq!(results[15], json!({ "ok": 4 }));
    assert_eq!(results[16], json!({ "ok": null }));
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_other() {
    let app = load_app(&pg_admin_url(), &[]).await;
    let key = unique("spintemp_host_key");
    let results = redis(
        &app,
        "/p?op=redis",
        json!([
            { "op": "set", "key": key, "value": "not a number" },
            { "op": "incr", "key": key },
            { "op": "execute", "command": "NOSUCHCOMMAND", "args": [] },
            { "op": "del", "keys": [key] },
        ]),
    )
    .await;
    assert_eq!(results[1]["err"]["variant"], "Other", "{}", results[1]);
    assert_eq!(results[2]["err"]["variant"], "Other", "{}", results[2]);
    assert_eq!(results[3], json!({ "ok": 1 }));
}

#[tokio::test(flavor = "multi_thread")]
async fn hosts_not_allowed_are_invalid_address() {
    let app = load_app(&pg_admin_url(), &[]).await;
    // Another port of an allowed host, and a component with no Redis permission.
    let other_port = redis_url().replace(":6379", ":6380");
    let answer = probe(
        &app,
        "/p?op=redis",
        json!({ "address": other_port, "steps": [] }),
    )
    .await;
    assert_eq!(
        answer["open"]["err"],
        json!({ "variant": "InvalidAddress" })
    );

    let answer = probe(
        &app,
        "/wild/?op=redis",
        json!({ "address": redis_url(), "steps": [] }),
    )
    .await;
    assert_eq!(
        answer["open"]["err"],
        json!({ "variant": "InvalidAddress" })
    );

    // probe-nopg may use Redis.
    let key = unique("spintemp_host_key");
    let results = redis(
        &app,
        "/nopg/?op=redis",
        json!([{ "op": "set", "key": key, "value": "x" }, { "op": "del", "keys": [key] }]),
    )
    .await;
    assert_eq!(results[1], json!({ "ok": 1 }));
}
