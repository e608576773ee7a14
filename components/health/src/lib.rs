//! GET /api/health — each check's result, and the status that says whether
//! this replica can serve: 503 when Postgres does not answer (nothing can be
//! served), 200 `degraded` when only the cache is down (everything is
//! served from Postgres), 200 `ok` otherwise. No token needed: load
//! balancers and the SpinApp's readiness probe call it.
//!
//! The cache is never called here: a hung Redis would hold the answer for
//! as long as it hangs (Spin's client has no timeout). Its check is what
//! the replica's breaker knows (kit::cache::breaker), and a probe after
//! the response keeps that knowledge fresh when nothing else calls it.

use kit::Reply;
use serde_json::json;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "health", |_| {
        let postgres = kit::db::ping().map_err(|e| format!("{e:?}"));
        let cache = kit::cache::health();
        let check = |name: &str, result: &Result<(), String>| match result {
            Ok(()) => "ok",
            Err(why) => {
                kit::log_line!("health: {name} is down: {why}");
                "down"
            }
        };
        let serving = postgres.is_ok();
        let status = match (serving, cache.is_ok()) {
            (false, _) => "unavailable",
            (true, false) => "degraded",
            (true, true) => "ok",
        };
        let (postgres, cache) = (check("postgres", &postgres), check("cache", &cache));
        let body = json!({
            "status": status,
            "checks": { "postgres": postgres, "cache": cache },
        });
        let reply = Reply::json(if serving { 200 } else { 503 }, &body);
        Ok(if serving {
            reply
        } else {
            reply.with_header("retry-after", "5")
        })
    })
    .await
}
