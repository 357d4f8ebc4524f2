//! The REST API (axum). Every error answers `{"error": {"code", "message", "field"}}`; see [`error`].

mod analytics;
mod auth;
mod dead_letters;
pub mod error;
pub mod events;
mod extract;
mod health;
pub mod openapi;
mod overview;
mod schedules;
mod task_actions;
mod tasks;
mod templates;
mod triggers;
mod ui;
mod workers;

use crate::template_catalog::TemplateCatalog;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tasker_shared::config::{ExecutionConfig, TaskerConfig};
use utoipa::OpenApi;

/// What request handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Database pool.
    pub pool: PgPool,
    /// Known templates.
    pub catalog: Arc<TemplateCatalog>,
    /// Step defaults for task creation.
    pub execution: ExecutionConfig,
    /// Announces the root steps of created tasks after commit.
    /// Writes new tasks, coalescing concurrent creations.
    pub writer: crate::task_writer::TaskWriter,
    /// The event stream's hub.
    pub events: crate::events::EventHub,
    /// Seconds per priority level in the step queues (`SchedulingConfig::priority_step_seconds`).
    pub priority_step: f64,
}

/// The router with every route, authentication, CORS, body limit and request deadline.
pub fn router(state: AppState, config: &TaskerConfig) -> Router {
    let auth = Arc::new(config.auth.clone());
    let cors = cors_layer(&config.cors.allowed_origins);
    let config = &config.orchestration;
    Router::new()
        .route("/v1/tasks", get(tasks::list).post(tasks::create))
        .route("/v1/tasks/{task_uuid}", get(tasks::show))
        .route("/v1/tasks/{task_uuid}/steps", get(tasks::steps))
        .route("/v1/tasks/{task_uuid}/cancel", post(task_actions::cancel))
        .route("/v1/tasks/{task_uuid}/retry", post(task_actions::retry))
        .route("/v1/tasks/{task_uuid}/steps/{step_uuid}/resolve", post(task_actions::resolve))
        .route("/v1/tasks/{task_uuid}/events", get(events::task_events))
        .route("/v1/events", get(events::all_events).post(triggers::emit))
        .route("/v1/schedules", get(schedules::list).post(schedules::create))
        .route("/v1/schedules/{schedule_id}", get(schedules::show).patch(schedules::update).delete(schedules::delete))
        .route("/v1/dlq", get(dead_letters::list))
        .route("/v1/analytics", get(analytics::show))
        .route("/v1/workers", get(workers::list))
        .route("/v1/overview", get(overview::show))
        .route("/ui", get(ui::page))
        .route("/ui/assets/{*path}", get(ui::asset))
        .route("/ui/{*page}", get(ui::page))
        .route("/v1/templates", get(templates::list).post(templates::register))
        .route("/v1/templates/{namespace}/{name}", get(templates::versions))
        .route("/v1/templates/{namespace}/{name}/{version}", axum::routing::delete(templates::retire))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", openapi::ApiDoc::openapi()))
        .fallback(error::not_found_route)
        .layer(axum::middleware::map_response(error::method_not_allowed_json))
        .layer(axum::middleware::from_fn_with_state(auth, auth::require_auth))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_millis(config.request_timeout_ms),
        ))
        .layer(cors)
        .with_state(state)
}

/// CORS for the configured origins only (none by default: browsers on other origins are refused).
fn cors_layer(origins: &[String]) -> tower_http::cors::CorsLayer {
    let allowed: Vec<axum::http::HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(allowed)
        .allow_methods([
            axum::http::Method::GET,
            axum::http::Method::POST,
            axum::http::Method::DELETE,
            axum::http::Method::PATCH,
        ])
        .allow_headers([
            axum::http::header::CONTENT_TYPE,
            axum::http::header::AUTHORIZATION,
            axum::http::HeaderName::from_static("x-api-key"),
        ])
}
