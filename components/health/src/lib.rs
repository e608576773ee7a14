//! GET /api/health — 200 when Postgres and the cache (the key-value store)
//! answer, 503 otherwise, with each check's result. No token needed: load
//! balancers call it.

use kit::Reply;
use serde_json::json;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "health", |_| {
        let postgres = kit::db::ping().map_err(|e| format!("{e:?}"));
        let cache = kit::cache::ping();
        let healthy = postgres.is_ok() && cache.is_ok();
        let check = |name: &str, result: &Result<(), String>| match result {
            Ok(()) => "ok",
            Err(why) => {
                eprintln!("health: {name} is down: {why}");
                "down"
            }
        };
        let (postgres, cache) = (check("postgres", &postgres), check("cache", &cache));
        let body = json!({
            "status": if healthy { "ok" } else { "unavailable" },
            "checks": { "postgres": postgres, "cache": cache },
        });
        let reply = Reply::json(if healthy { 200 } else { 503 }, &body);
        Ok(if healthy {
            reply
        } else {
            reply.with_header("retry-after", "5")
        })
    })
    .await
}
