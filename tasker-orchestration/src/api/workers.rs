//! `GET /v1/workers`: the live workers and the queues each serves.

use super::error::ApiError;
use super::AppState;
use crate::workers::{live_workers, WorkerView};
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// `GET /v1/workers`.
#[derive(Serialize, ToSchema)]
pub struct WorkerList {
    /// The workers seen within the last 15 s, by id.
    pub workers: Vec<WorkerView>,
}

/// The live workers: `{"workers": [{worker_id, host, language, queues, concurrency, started_at, last_seen_at}]}`.
#[utoipa::path(get, path = "/v1/workers", tag = "operations",
    responses((status = 200, description = "The live workers, by id", body = WorkerList)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<WorkerList>, ApiError> {
    Ok(Json(WorkerList { workers: live_workers(&state.pool).await? }))
}
