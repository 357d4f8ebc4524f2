//! `GET /v1/analytics?since=<RFC 3339>&namespace=`.

use super::error::ApiError;
use super::extract::{check_namespace, QueryParams};
use super::openapi::ErrorBody;
use super::AppState;
use crate::analytics::{analytics, Analytics};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Query of `GET /v1/analytics`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// Start of the window, RFC 3339 (default: an hour ago).
    since: Option<String>,
    /// Only tasks of this namespace.
    namespace: Option<String>,
}

/// The tasks created since `since`: counts by state, per minute, per template, and the slowest steps.
#[utoipa::path(get, path = "/v1/analytics", tag = "operations", params(AnalyticsQuery),
    responses((status = 200, description = "Analytics of the window", body = Analytics),
              (status = 400, description = "A bad query parameter (named in `field`)", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<AnalyticsQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let since = match q.since.as_deref() {
        Some(raw) => DateTime::parse_from_rfc3339(raw).map(|t| t.with_timezone(&Utc)).map_err(|e| {
            ApiError::bad_request(
                Some("since".to_string()),
                format!("not an RFC 3339 time ({e}), e.g. 2026-12-02T10:00:00Z"),
            )
        })?,
        None => Utc::now() - chrono::Duration::hours(1),
    };
    if since.timestamp() < 0 {
        return Err(ApiError::bad_request(Some("since".to_string()), "must be after 1970"));
    }
    check_namespace(q.namespace.as_deref())?;
    Ok(Json(analytics(&state.pool, since, q.namespace.as_deref()).await?))
}
