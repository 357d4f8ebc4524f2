//! The REST API (axum). Every error answers `{"error": {"code", "message", "field"}}`; see [`error`].

pub mod error;
mod extract;
mod health;
mod tasks;
mod templates;

use crate::template_catalog::TemplateCatalog;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tasker_shared::config::{ExecutionConfig, OrchestrationConfig};

/// What request handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Database pool.
    pub pool: PgPool,
    /// Known templates.
    pub catalog: Arc<TemplateCatalog>,
    /// Step defaults for task creation.
    pub execution: ExecutionConfig,
}

/// The router with every route, body limit and request deadline.
pub fn router(state: AppState, config: &OrchestrationConfig) -> Router {
    Router::new()
        .route("/v1/tasks", get(tasks::list).post(tasks::create))
        .route("/v1/tasks/{task_uuid}", get(tasks::show))
        .route("/v1/tasks/{task_uuid}/steps", get(tasks::steps))
        .route("/v1/templates", get(templates::list))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .fallback(error::not_found_route)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_millis(config.request_timeout_ms),
        ))
        .with_state(state)
}
