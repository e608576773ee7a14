//! The tiny HTTP server: Prometheus `/metrics` and `/healthz`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::outbox;
use crate::relay::Shared;

/// A scrape must not hang on a database that does not answer.
const BACKLOG_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, shutdown: CancellationToken) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(shared);
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        warn!(%error, "the metrics server failed");
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    refresh_backlog(&shared).await;
    (
        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        shared.metrics.render(),
    )
        .into_response()
}

/// The backlog gauges are read at scrape time: nothing is spent on them
/// unless someone looks. On failure they keep their last value.
async fn refresh_backlog(shared: &Shared) {
    let read = async {
        let mut conn = shared.outbox.acquire().await?;
        outbox::backlog(&mut conn).await
    };
    match tokio::time::timeout(BACKLOG_QUERY_TIMEOUT, read).await {
        Ok(Ok((depth, oldest_age))) => {
            shared.metrics.outbox_depth.set(depth);
            shared.metrics.oldest_pending_age.set(oldest_age);
        }
        Ok(Err(error)) => debug!(%error, "cannot read the outbox backlog"),
        Err(_) => debug!("reading the outbox backlog timed out"),
    }
}

/// 200 while the relay runs, even when a dependency is down (restarting the
/// relay would not help; the body and the failure metrics say what is wrong),
/// 503 once it has stopped.
async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    let report = shared.health.report();
    let status = if report.status == "stopped" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let body = serde_json::json!({
        "status": report.status,
        "nats": shared.publisher.connection_state(),
        "policies": report.policies,
        "lastSuccessAt": report.last_success_at,
        "lastErrorAt": report.last_error_at,
        "lastError": report.last_error,
    });
    (status, Json(body)).into_response()
}
