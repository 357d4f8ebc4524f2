//! The worker's HTTP endpoints for Kubernetes probes and Prometheus.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
struct HealthState {
    pool: PgPool,
    running: Arc<AtomicBool>,
    queues: crate::worker::ServedQueues,
    in_flight: crate::in_flight::InFlight,
    worker_id: String,
}

/// `/health/live`, `/health/ready` (database reachable and claim loops running) and `/metrics` (with the steps
/// in flight, `tasker_worker_steps_in_flight{worker_id}`, read at each scrape).
pub fn router(
    pool: PgPool,
    running: Arc<AtomicBool>,
    queues: crate::worker::ServedQueues,
    in_flight: crate::in_flight::InFlight,
    worker_id: String,
) -> Router {
    Router::new()
        .route("/health/live", get(|| async { Json(json!({"status": "alive"})) }))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(HealthState { pool, running, queues, in_flight, worker_id })
}

async fn ready(State(s): State<HealthState>) -> impl IntoResponse {
    let database = tasker_shared::db::ping(&s.pool, Duration::from_secs(2)).await;
    let running = s.running.load(Ordering::SeqCst);
    let ok = database.is_ok() && running;
    let queues: Vec<String> = s.queues.read().map(|q| q.clone()).unwrap_or_default();
    let body = json!({
        "status": if ok { "ready" } else { "unavailable" },
        "checks": {
            "database": match &database { Ok(()) => json!({"status": "up"}), Err(e) => json!({"status": "down", "error": e}) },
            "consumers": {"status": if running { "up" } else { "down" }, "queues": queues},
        }
    });
    (if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}

async fn metrics(State(s): State<HealthState>) -> impl IntoResponse {
    metrics::gauge!("tasker_worker_steps_in_flight", "worker_id" => s.worker_id.clone()).set(s.in_flight.len() as f64);
    let handle = tasker_shared::observability::prometheus();
    handle.run_upkeep();
    ([("content-type", "text/plain; version=0.0.4")], handle.render())
}
