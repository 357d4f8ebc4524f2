//! `/v1/templates` handlers.

use super::error::ApiError;
use super::AppState;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

/// `GET /v1/templates`: every registered template.
pub async fn list(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let templates = state.catalog.list().await?;
    Ok(Json(json!({"templates": templates})))
}
