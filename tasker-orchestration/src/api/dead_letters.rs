//! `GET /v1/dlq?namespace=&limit=&cursor=`: the dead letters, newest failure first.

use super::error::ApiError;
use super::extract::{check_namespace, QueryParams};
use super::openapi::{DeadLetterPage, ErrorBody};
use super::AppState;
use crate::dead_letters::{list_dead_letters, DeadLetterCursor};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

/// Query of `GET /v1/dlq`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DlqQuery {
    /// Only dead letters of this namespace.
    namespace: Option<String>,
    /// Page size, 1-1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `{"entries": [{task_uuid, namespace, name, failed_at, steps: [{step_uuid, name, attempts, error}]}], "next_cursor"}`.
#[utoipa::path(get, path = "/v1/dlq", tag = "operations", params(DlqQuery),
    responses((status = 200, description = "A page of dead letters, newest failure first", body = DeadLetterPage),
              (status = 400, description = "A bad query parameter (named in `field`)", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<DlqQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(Some("limit".to_string()), "must be between 1 and 1000"));
    }
    check_namespace(q.namespace.as_deref())?;
    let cursor = match q.cursor.as_deref() {
        Some(raw) => Some(DeadLetterCursor::decode(raw).ok_or_else(|| {
            ApiError::bad_request(Some("cursor".to_string()), "not a cursor from a previous page's next_cursor")
        })?),
        None => None,
    };
    let (entries, next) = list_dead_letters(&state.pool, q.namespace.as_deref(), cursor, limit).await?;
    Ok(Json(json!({"entries": entries, "next_cursor": next.map(|c| c.encode())})))
}
