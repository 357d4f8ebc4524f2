//! Health probes and metrics.

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use std::time::Duration;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, description = "Alive", body = Object)))]
pub async fn live() -> impl IntoResponse {
    Json(json!({"status": "alive"}))
}

/// Readiness: 200 when the database answers, 503 (with the failing component) when it does not.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, description = "Ready", body = Object),
              (status = 503, description = "A component is down (named in `checks`)", body = Object)))]
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    match tasker_shared::db::ping(&state.pool, Duration::from_secs(2)).await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready", "checks": {"database": {"status": "up"}}}))),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "checks": {"database": {"status": "down", "error": e}}})),
        ),
    }
}

/// Prometheus metrics. The dead-letter gauge is read from the database at each scrape (an index-only count of
/// the failed tasks), so every server reports the same value.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    match crate::dead_letters::count_by_namespace(&state.pool).await {
        Ok(counts) => {
            for (namespace, n) in counts {
                metrics::gauge!("tasker_dead_letter_tasks", "namespace" => namespace).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not count dead letters for /metrics"),
    }
    let handle = tasker_shared::observability::prometheus();
    handle.run_upkeep();
    ([("content-type", "text/plain; version=0.0.4")], handle.render())
}
