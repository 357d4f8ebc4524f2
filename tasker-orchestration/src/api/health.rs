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

/// Readiness: 200 when the database answers, 503 (with the failing component) when it does not. `checks.queues`
/// names the step queues whose waiting steps no live worker serves (`unserved`): the server is still ready, but
/// those steps wait until a worker with their handlers starts. Counting them is given up after 500 ms (`unknown`):
/// a deep backlog must not make the probe time out and take every server out of its Service.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, description = "Ready", body = Object),
              (status = 503, description = "A component is down (named in `checks`)", body = Object)))]
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    match tasker_shared::db::ping(&state.pool, Duration::from_secs(2)).await {
        Ok(()) => {
            let queues = match crate::workers::queue_backlog_within(&state.pool, Duration::from_millis(500)).await {
                Ok(backlog) => {
                    let unserved: Vec<&str> =
                        backlog.iter().filter(|q| q.unserved()).map(|q| q.queue.as_str()).collect();
                    json!({"status": if unserved.is_empty() { "up" } else { "unserved" }, "unserved": unserved})
                }
                Err(e) => json!({"status": "unknown", "error": e.to_string()}),
            };
            (
                StatusCode::OK,
                Json(json!({"status": "ready", "checks": {"database": {"status": "up"}, "queues": queues}})),
            )
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "checks": {"database": {"status": "down", "error": e}}})),
        ),
    }
}

/// Prometheus metrics. The dead-letter and queue gauges are read from the database at each scrape (an index-only
/// count of the failed tasks; each step queue's backlog and live consumers), so every server reports the same
/// values.
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
    match crate::workers::queue_backlog(&state.pool).await {
        Ok(backlog) => {
            for q in backlog {
                let queue = q.queue.clone();
                metrics::gauge!("tasker_queue_depth", "queue" => queue.clone()).set(q.depth as f64);
                metrics::gauge!("tasker_queue_ready", "queue" => queue.clone()).set(q.ready as f64);
                metrics::gauge!("tasker_queue_oldest_message_age_seconds", "queue" => queue.clone())
                    .set(q.oldest_age_seconds.unwrap_or(0.0));
                metrics::gauge!("tasker_queue_consumers", "queue" => queue.clone()).set(q.consumers as f64);
                metrics::gauge!("tasker_queue_unserved", "queue" => queue).set(if q.unserved() { 1.0 } else { 0.0 });
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not read the queue backlog for /metrics"),
    }
    match crate::concurrency::queued_by_namespace(&state.pool).await {
        Ok(counts) => {
            for (namespace, n) in counts {
                metrics::gauge!("tasker_queued_tasks", "namespace" => namespace).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not count queued tasks for /metrics"),
    }
    match crate::rate_limits::buckets(&state.pool).await {
        Ok(buckets) => {
            for b in buckets {
                metrics::gauge!("tasker_rate_limit_waits", "key" => b.key.clone()).set(b.waits as f64);
                metrics::gauge!("tasker_rate_limit_tokens", "key" => b.key).set(b.tokens);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not read the rate limits for /metrics"),
    }
    let handle = tasker_shared::observability::prometheus();
    handle.run_upkeep();
    ([("content-type", "text/plain; version=0.0.4")], handle.render())
}
