//! Operator actions on tasks: `POST /v1/tasks/{task_uuid}/cancel`, `…/retry` and
//! `…/steps/{step_uuid}/resolve`. Each answers 200 with the task as `GET /v1/tasks/{task_uuid}` shows it, 404 for
//! an unknown task or step, and 409 (`conflict`) when the task or step is in a state the action does not apply to.

use super::error::ApiError;
use super::extract::{parse_uuid, JsonBody, OptionalJsonBody, Path};
use super::openapi::ErrorBody;
use super::AppState;
use crate::task_actions;
use crate::task_query::TaskView;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;

/// Longest reason kept in the audit trail.
const MAX_REASON_LEN: usize = 1000;

/// The optional body of cancel and retry.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Recorded on every audit row the action writes.
    #[serde(default)]
    reason: Option<String>,
}

/// The body of resolve.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// The step's result, as if its handler had returned it (any JSON, `null` included).
    #[schema(value_type = Object)]
    result: serde_json::Value,
    /// Recorded on the audit rows.
    #[serde(default)]
    reason: Option<String>,
}

fn checked_reason(reason: Option<String>) -> Result<Option<String>, ApiError> {
    match &reason {
        Some(r) if r.trim().is_empty() || r.len() > MAX_REASON_LEN || r.contains('\0') => {
            Err(ApiError::invalid("reason", format!("must be 1-{MAX_REASON_LEN} characters, not blank, no NUL")))
        }
        _ => Ok(reason),
    }
}

/// `POST /v1/tasks/{task_uuid}/cancel` with an optional `{"reason": "…"}`.
#[utoipa::path(post, path = "/v1/tasks/{task_uuid}/cancel", tag = "operations", params(("task_uuid" = Uuid, Path, description = "The task")),
    request_body(content = Option<ReasonBody>, description = "Optional; an empty body is fine"),
    responses((status = 200, description = "The cancelled task", body = TaskView),
              (status = 400, description = "Not a UUID, or malformed JSON", body = ErrorBody),
              (status = 404, description = "No such task or step", body = ErrorBody),
              (status = 409, description = "Not in a state this action applies to", body = ErrorBody),
              (status = 413, description = "Body too large", body = ErrorBody),
              (status = 415, description = "Not JSON", body = ErrorBody),
              (status = 422, description = "A field is invalid (named in `field`)", body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<ReasonBody>,
) -> Result<impl IntoResponse, ApiError> {
    let task_uuid = parse_uuid("task_uuid", &raw)?;
    let reason = checked_reason(body.unwrap_or_default().reason)?;
    let task = task_actions::cancel_task(&state.pool, task_uuid, reason, state.priority_step).await?;
    state.events.kick();
    Ok(Json(task))
}

/// `POST /v1/tasks/{task_uuid}/retry` with an optional `{"reason": "…"}`.
#[utoipa::path(post, path = "/v1/tasks/{task_uuid}/retry", tag = "operations", params(("task_uuid" = Uuid, Path, description = "The task")),
    request_body(content = Option<ReasonBody>, description = "Optional; an empty body is fine"),
    responses((status = 200, description = "The task, running again", body = TaskView),
              (status = 400, description = "Not a UUID, or malformed JSON", body = ErrorBody),
              (status = 404, description = "No such task or step", body = ErrorBody),
              (status = 409, description = "Not in a state this action applies to", body = ErrorBody),
              (status = 413, description = "Body too large", body = ErrorBody),
              (status = 415, description = "Not JSON", body = ErrorBody),
              (status = 422, description = "A field is invalid (named in `field`)", body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<ReasonBody>,
) -> Result<impl IntoResponse, ApiError> {
    let task_uuid = parse_uuid("task_uuid", &raw)?;
    let reason = checked_reason(body.unwrap_or_default().reason)?;
    let task = task_actions::retry_task(&state.pool, task_uuid, reason, state.priority_step).await?;
    state.events.kick();
    Ok(Json(task))
}

/// `POST /v1/tasks/{task_uuid}/steps/{step_uuid}/resolve` with `{"result": …, "reason": "…"}`.
#[utoipa::path(post, path = "/v1/tasks/{task_uuid}/steps/{step_uuid}/resolve", tag = "operations",
    params(("task_uuid" = Uuid, Path, description = "The task"), ("step_uuid" = Uuid, Path, description = "The step")), request_body = ResolveBody,
    responses((status = 200, description = "The task, the step resolved by hand", body = TaskView),
              (status = 400, description = "Not a UUID, or malformed JSON", body = ErrorBody),
              (status = 404, description = "No such task or step", body = ErrorBody),
              (status = 409, description = "Not in a state this action applies to", body = ErrorBody),
              (status = 413, description = "Body too large", body = ErrorBody),
              (status = 415, description = "Not JSON", body = ErrorBody),
              (status = 422, description = "A field is invalid (named in `field`)", body = ErrorBody)))]
pub async fn resolve(
    State(state): State<AppState>,
    Path((raw_task, raw_step)): Path<(String, String)>,
    JsonBody(body): JsonBody<ResolveBody>,
) -> Result<impl IntoResponse, ApiError> {
    let task_uuid = parse_uuid("task_uuid", &raw_task)?;
    let step_uuid = parse_uuid("step_uuid", &raw_step)?;
    let reason = checked_reason(body.reason)?;
    if tasker_shared::jsonb::contains_nul(&body.result) {
        return Err(ApiError::invalid("result", "strings must not contain NUL characters"));
    }
    let task =
        task_actions::resolve_step(&state.pool, task_uuid, step_uuid, body.result, reason, state.priority_step).await?;
    state.events.kick();
    Ok(Json(task))
}
