//! GET /api/health — 200 when Postgres and Redis answer, 503 otherwise, with
//! each check's result. No token needed: load balancers call it.

use kit::{ApiError, Reply};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    kit::run(req, "health", |ctx| {
        if ctx.method != Method::Get {
            return Err(ApiError::MethodNotAllowed("GET"));
        }
        let postgres = kit::db::ping().map_err(|e| format!("{}", e.status()));
        let redis = kit::cache::ping();
        let healthy = postgres.is_ok() && redis.is_ok();
        let check = |r: &Result<(), String>| if r.is_ok() { "ok" } else { "down" };
        if let (Err(pg), _) | (_, Err(pg)) = (&postgres, &redis) {
            eprintln!("health: a dependency is down: {pg}");
        }
        let body = json!({
            "status": if healthy { "ok" } else { "unavailable" },
            "checks": { "postgres": check(&postgres), "redis": check(&redis) },
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
