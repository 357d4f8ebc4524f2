//! `/v1/tasks` handlers.

use super::error::ApiError;
use super::extract::{parse_uuid, JsonBody, Path, QueryParams};
use super::openapi::{ErrorBody, StepList, TaskList};
use super::AppState;
use crate::task_initializer::{create_task, CreateTaskRequest};
use crate::task_query::{self, TaskFilter, TaskView};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use tasker_shared::states::TaskState;

const MAX_KEY_LEN: usize = 255;

/// `POST /v1/tasks`: 201 with the new task, 200 with the existing one for a reused idempotency key.
#[utoipa::path(post, path = "/v1/tasks", tag = "tasks", request_body = CreateTaskRequest,
    responses((status = 201, description = "Created", body = TaskView),
              (status = 200, description = "The task already created with this idempotency key", body = TaskView),
              (status = 400, description = "Malformed JSON", body = ErrorBody),
              (status = 404, description = "No such template", body = ErrorBody),
              (status = 409, description = "The idempotency key was used with another context (`idempotency_conflict`)", body = ErrorBody),
              (status = 413, description = "Body too large", body = ErrorBody),
              (status = 415, description = "Not JSON", body = ErrorBody),
              (status = 422, description = "A field is invalid (named in `field`)", body = ErrorBody),
              (status = 503, description = "Database unavailable", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<CreateTaskRequest>,
) -> Result<impl IntoResponse, ApiError> {
    for (field, value) in [
        ("namespace", Some(&request.namespace)),
        ("name", Some(&request.name)),
        ("idempotency_key", request.idempotency_key.as_ref()),
        ("correlation_id", request.correlation_id.as_ref()),
        ("version", request.version.as_ref()),
        ("initiator", request.initiator.as_ref()),
    ] {
        if value.is_some_and(|v| v.is_empty() || v.len() > MAX_KEY_LEN) {
            return Err(ApiError::invalid(field, format!("must be 1-{MAX_KEY_LEN} characters")));
        }
        if value.is_some_and(|v| v.contains('\0')) {
            return Err(ApiError::invalid(field, "must not contain NUL characters"));
        }
    }
    if let Some(tags) = &request.tags {
        if tags.len() > 100 || tags.iter().any(|t| t.is_empty() || t.len() > MAX_KEY_LEN || t.contains('\0')) {
            return Err(ApiError::invalid("tags", format!("at most 100 tags of 1-{MAX_KEY_LEN} characters, no NUL")));
        }
    }
    if !request.context.is_object() {
        return Err(ApiError::invalid("context", "must be a JSON object"));
    }
    if tasker_shared::jsonb::contains_nul(&request.context) {
        return Err(ApiError::invalid("context", "strings must not contain NUL characters"));
    }
    let created = create_task(&state.pool, &state.writer, &state.catalog, &state.execution, request).await?;
    let status = if created.created { StatusCode::CREATED } else { StatusCode::OK };
    state.events.kick();
    Ok((status, Json(created.task)))
}

/// `GET /v1/tasks/{task_uuid}`.
#[utoipa::path(get, path = "/v1/tasks/{task_uuid}", tag = "tasks", params(("task_uuid" = Uuid, Path, description = "The task")),
    responses((status = 200, description = "The task with its steps", body = TaskView),
              (status = 400, description = "Not a UUID", body = ErrorBody),
              (status = 404, description = "No such task", body = ErrorBody)))]
pub async fn show(State(state): State<AppState>, Path(raw): Path<String>) -> Result<impl IntoResponse, ApiError> {
    let task_uuid = parse_uuid("task_uuid", &raw)?;
    Ok(Json(task_query::get_task(&state.pool, task_uuid).await?))
}

/// `GET /v1/tasks/{task_uuid}/steps`.
#[utoipa::path(get, path = "/v1/tasks/{task_uuid}/steps", tag = "tasks", params(("task_uuid" = Uuid, Path, description = "The task")),
    responses((status = 200, description = "The task's steps", body = StepList),
              (status = 400, description = "Not a UUID", body = ErrorBody),
              (status = 404, description = "No such task", body = ErrorBody)))]
pub async fn steps(State(state): State<AppState>, Path(raw): Path<String>) -> Result<impl IntoResponse, ApiError> {
    let task_uuid = parse_uuid("task_uuid", &raw)?;
    let task = task_query::get_task(&state.pool, task_uuid).await?;
    Ok(Json(json!({"task_uuid": task.task_uuid, "steps": task.steps})))
}

/// Query of `GET /v1/tasks`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only tasks of this namespace.
    namespace: Option<String>,
    /// Only tasks of this template name.
    name: Option<String>,
    /// Only tasks in this state.
    state: Option<String>,
    /// Only tasks carrying this tag.
    tag: Option<String>,
    /// Only tasks created at or after this time (RFC 3339).
    created_after: Option<String>,
    /// Only tasks created before this time (RFC 3339).
    created_before: Option<String>,
    /// Page size, 1-1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `GET /v1/tasks?namespace=&name=&state=&tag=&created_after=&created_before=&limit=&cursor=`: newest first, each
/// with its step counts by state; `next_cursor` fetches the next page.
#[utoipa::path(get, path = "/v1/tasks", tag = "tasks", params(ListQuery),
    responses((status = 200, description = "A page of tasks, newest first", body = TaskList),
              (status = 400, description = "A bad query parameter (named in `field`)", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(Some("limit".to_string()), "must be between 1 and 1000"));
    }
    if q.namespace.as_ref().is_some_and(|n| n.contains('\0') || n.len() > MAX_KEY_LEN) {
        return Err(ApiError::bad_request(Some("namespace".to_string()), "not a valid namespace"));
    }
    for (field, value) in [("name", &q.name), ("tag", &q.tag)] {
        if value.as_ref().is_some_and(|v| v.contains('\0') || v.len() > MAX_KEY_LEN) {
            return Err(ApiError::bad_request(Some(field.to_string()), format!("not a valid {field}")));
        }
    }
    if let Some(s) = &q.state {
        s.parse::<TaskState>().map_err(|_| {
            let valid: Vec<&str> = TaskState::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::bad_request(
                Some("state".to_string()),
                format!("`{s}` is not a task state; valid: {}", valid.join(", ")),
            )
        })?;
    }
    let time = |field: &str, value: &Option<String>| -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
        value
            .as_deref()
            .map(|v| {
                chrono::DateTime::parse_from_rfc3339(v).map(|t| t.to_utc()).map_err(|_| {
                    ApiError::bad_request(Some(field.to_string()), "not an RFC 3339 time (e.g. 2026-12-02T10:00:00Z)")
                })
            })
            .transpose()
    };
    let created_after = time("created_after", &q.created_after)?;
    let created_before = time("created_before", &q.created_before)?;
    let cursor = q.cursor.as_deref().map(|c| parse_uuid("cursor", c)).transpose()?;
    let filter = TaskFilter {
        namespace: q.namespace,
        name: q.name,
        state: q.state,
        tag: q.tag,
        created_after,
        created_before,
        cursor,
        limit,
    };
    let (tasks, next) = task_query::list_tasks(&state.pool, &filter).await?;
    Ok(Json(json!({"tasks": tasks, "next_cursor": next})))
}
