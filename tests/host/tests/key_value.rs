//! `fermyon:spin/key-value@2.0.0`: the key-value rows of
//! shared/reference/spin-verified.md, with the local `default` store and with
//! a Redis store from a runtime config.

mod common;

use common::{build_probe, manifest_for_tests, options, pg_admin_url, probe, redis_url, unique};
use serde_json::{json, Value};
use spintemp_host::own_redis::OwnRedis;
use spintemp_host::{App, HostOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn kv(app: &App, uri: &str, steps: Value) -> Value {
    probe(app, uri, json!({ "steps": steps })).await
}

fn runtime_config(text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(unique("spintemp_host_rc"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("runtime-config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn load(runtime_config: Option<std::path::PathBuf>) -> anyhow::Result<App> {
    build_probe().await;
    App::load(
        manifest_for_tests(),
        HostOptions {
            runtime_config,
            ..options(&pg_admin_url(), &[])
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_store_exists_without_a_runtime_config_and_outlives_instances() {
    let app = load(None).await.unwrap();
    let key = unique("spintemp_host_kv");
    let first = kv(
        &app,
        "/p?op=kv",
        json!([
            { "op": "get", "key": key },
            { "op": "set", "key": key, "value": "v1" },
            { "op": "exists", "key": key },
        ]),
    )
    .await;
    assert_eq!(first["open"], json!({ "ok": null }), "{first}");
    assert_eq!(
        first["results"],
        json!([{ "ok": null }, { "ok": null }, { "ok": true }])
    );

    // A later request (a fresh instance) sees the value; Redis does not.
    let second = kv(
        &app,
        "/p?op=kv",
        json!([{ "op": "get", "key": key }, { "op": "keys" }, { "op": "delete", "key": key }, { "op": "exists", "key": key }]),
    )
    .await;
    assert_eq!(second["results"][0], json!({ "ok": "v1" }));
    assert_eq!(second["results"][1], json!({ "ok": [key] }));
    assert_eq!(second["results"][3], json!({ "ok": false }));
    let mut redis = redis_connection().await;
    let in_redis: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(in_redis, None, "the local store is not Redis");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_store_from_the_runtime_config_keeps_keys_as_given() {
    let config = runtime_config(&format!(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
        redis_url()
    ));
    let app = load(Some(config)).await.unwrap();
    let key = unique("spintemp_host_kv");
    let answer = kv(
        &app,
        "/p?op=kv",
        json!([{ "op": "set", "key": key, "value": "in redis" }]),
    )
    .await;
    assert_eq!(answer["results"], json!([{ "ok": null }]), "{answer}");

    let mut redis = redis_connection().await;
    let stored: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some("in redis"));

    let answer = kv(
        &app,
        "/p?op=kv",
        json!([{ "op": "get", "key": key }, { "op": "delete", "key": key }, { "op": "get", "key": key }]),
    )
    .await;
    assert_eq!(
        answer["results"],
        json!([{ "ok": "in redis" }, { "ok": null }, { "ok": null }])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_granted_and_defined_stores_open() {
    let app = load(None).await.unwrap();
    // `probe` is granted `default` only; `probe-nopg` no store at all.
    let other = probe(&app, "/p?op=kv", json!({ "label": "other", "steps": [] })).await;
    assert_eq!(other["open"]["err"]["variant"], "AccessDenied", "{other}");
    let nopg = probe(&app, "/nopg?op=kv", json!({ "steps": [] })).await;
    assert_eq!(nopg["open"]["err"]["variant"], "AccessDenied", "{nopg}");

    // A label that no runtime config defines stops the app at start, as
    // `spin up` does.
    let manifest = manifest_for_tests();
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "key_value_stores = [\"default\"]",
        "key_value_stores = [\"cache\"]",
    );
    let copy = manifest.with_file_name(format!("{}.toml", unique("kv_unknown_label")));
    std::fs::write(&copy, text).unwrap();
    let err = App::load(&copy, options(&pg_admin_url(), &[]))
        .await
        .err()
        .expect("an undefined store label must stop the app");
    let _ = std::fs::remove_file(&copy);
    let err = format!("{err:#}");
    assert!(
        err.contains("unknown key_value_stores label \"cache\" for component \"probe\""),
        "{err}"
    );
}

/// Spin connects on the first open, not at start, and retries as it
/// reconnects (see below): the app starts, and the open waits.
#[tokio::test(flavor = "multi_thread")]
async fn a_redis_store_that_is_down_holds_the_first_open_not_the_app() {
    let config = runtime_config(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:1\"\n",
    );
    let app = load(Some(config)).await.unwrap();
    let open = tokio::time::timeout(Duration::from_secs(3), kv(&app, "/p?op=kv", json!([]))).await;
    assert!(
        open.is_err(),
        "an open of a Redis nothing listens on answered at once: {open:?}"
    );
}

async fn redis_connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Spin 3.6.3 and 4.0.2 make their Redis store with redis-rs 0.32.5's
/// `ConnectionManager` and its defaults: no response or connection
/// timeout, and reconnects retried by backon 1.5.2 from 1 s with a factor of
/// 100 capped at 60 s (1 s, then 60 s five times, each with up to as much
/// again of jitter). The host must be no kinder: a hung Redis holds a call
/// for as long as it hangs, and a dead one holds every call after the first
/// for those tries: minutes.
#[tokio::test(flavor = "multi_thread")]
async fn a_hung_or_dead_redis_holds_calls_as_under_spin() {
    let mut redis = OwnRedis::start().unwrap();
    let config = runtime_config(&format!(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
        redis.url()
    ));
    let app = Arc::new(load(Some(config)).await.unwrap());
    let key = unique("spintemp_host_kv");
    let get = json!([{ "op": "get", "key": key }]);
    let set = kv(
        &app,
        "/p?op=kv",
        json!([{ "op": "set", "key": key, "value": "v" }]),
    )
    .await;
    assert_eq!(set["results"], json!([{ "ok": null }]), "{set}");
    let call = |steps: &Value| {
        let (app, steps) = (app.clone(), steps.clone());
        tokio::spawn(async move { kv(&app, "/p?op=kv", steps).await })
    };

    redis.hang();
    let hung = call(&get);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !hung.is_finished(),
        "a call to a hung Redis was answered within 3 s; under Spin it waits as long as Redis hangs"
    );
    redis.resume();
    let answer = tokio::time::timeout(Duration::from_secs(5), hung)
        .await
        .expect("answered once Redis resumes")
        .unwrap();
    assert_eq!(answer["results"], json!([{ "ok": "v" }]), "{answer}");

    // Dead: the open's PING meets the closed connection (and is ignored, as
    // Spin ignores it), which starts the reconnect; the get waits for it.
    redis.kill();
    let started = Instant::now();
    let dead = call(&get);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !dead.is_finished(),
        "a call to a dead Redis was answered after {:?}, without the reconnect's tries",
        started.elapsed()
    );
    dead.abort();
}
