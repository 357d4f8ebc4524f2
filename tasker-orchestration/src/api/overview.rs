//! `GET /v1/overview`: the dashboard's first page in one request.

use super::error::ApiError;
use super::AppState;
use crate::overview::{overview, Overview};
use axum::extract::State;
use axum::Json;

/// Every task by state, the last hour per minute, the step queues, the dead-letter count and the live workers.
#[utoipa::path(get, path = "/v1/overview", tag = "operations",
    responses((status = 200, description = "The overview", body = Overview)))]
pub async fn show(State(state): State<AppState>) -> Result<Json<Overview>, ApiError> {
    Ok(Json(overview(&state.pool).await?))
}
