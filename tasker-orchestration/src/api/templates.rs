//! `/v1/templates` handlers.

use super::error::ApiError;
use super::openapi::TemplateList;
use super::AppState;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

/// `GET /v1/templates`: every registered template.
#[utoipa::path(get, path = "/v1/templates", tag = "templates",
    responses((status = 200, description = "Every registered template", body = TemplateList)))]
pub async fn list(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let templates = state.catalog.list().await?;
    Ok(Json(json!({"templates": templates})))
}
