//! `/v1/schedules`: cron schedules that start tasks (see `docs/scheduling.md`).

use super::error::ApiError;
use super::extract::{parse_uuid, JsonBody, Path};
use super::openapi::ErrorBody;
use super::AppState;
use crate::schedules::{self, NewSchedule, SchedulePatch, ScheduleView};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;

/// `GET /v1/schedules`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ScheduleList {
    /// Oldest first.
    pub schedules: Vec<ScheduleView>,
}

fn check_text(field: &str, value: Option<&String>) -> Result<(), ApiError> {
    if value.is_some_and(|v| v.is_empty() || v.len() > 255 || v.contains('\0')) {
        return Err(ApiError::invalid(field, "must be 1-255 characters, no NUL"));
    }
    Ok(())
}

fn check_context(context: Option<&serde_json::Value>) -> Result<(), ApiError> {
    match context {
        Some(c) if !c.is_object() => Err(ApiError::invalid("context", "must be a JSON object")),
        Some(c) if tasker_shared::jsonb::contains_nul(c) => {
            Err(ApiError::invalid("context", "strings must not contain NUL characters"))
        }
        _ => Ok(()),
    }
}

/// `POST /v1/schedules`: 201 with the schedule and its `next_fire_at`.
#[utoipa::path(post, path = "/v1/schedules", tag = "schedules", request_body = NewSchedule,
    responses((status = 201, description = "Created", body = ScheduleView),
              (status = 400, description = "Malformed JSON", body = ErrorBody),
              (status = 404, description = "No such template", body = ErrorBody),
              (status = 413, description = "Body too large", body = ErrorBody),
              (status = 415, description = "Not JSON", body = ErrorBody),
              (status = 422, description = "Invalid cron, timezone, context or priority (the field is named)", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewSchedule>,
) -> Result<impl IntoResponse, ApiError> {
    for (field, value) in [
        ("namespace", Some(&new.namespace)),
        ("name", Some(&new.name)),
        ("version", new.version.as_ref()),
        ("cron", Some(&new.cron)),
        ("timezone", new.timezone.as_ref()),
    ] {
        check_text(field, value)?;
    }
    check_context(new.context.as_ref())?;
    let view = schedules::create(&state.pool, &state.catalog, new, None).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /v1/schedules`: every schedule.
#[utoipa::path(get, path = "/v1/schedules", tag = "schedules",
    responses((status = 200, description = "Every schedule", body = ScheduleList)))]
pub async fn list(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(ScheduleList { schedules: schedules::list(&state.pool).await? }))
}

/// `GET /v1/schedules/{schedule_id}`: the schedule with its fires, newest first.
#[utoipa::path(get, path = "/v1/schedules/{schedule_id}", tag = "schedules",
    params(("schedule_id" = String, Path, description = "Schedule id")),
    responses((status = 200, description = "The schedule and its last 50 fires", body = ScheduleView),
              (status = 400, description = "Not a uuid", body = ErrorBody),
              (status = 404, description = "No such schedule", body = ErrorBody)))]
pub async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<impl IntoResponse, ApiError> {
    let id = parse_uuid("schedule_id", &id)?;
    Ok(Json(schedules::get(&state.pool, id, true).await?))
}

/// `PATCH /v1/schedules/{schedule_id}`: pause or resume, or change cron, timezone, context, overlap, catch-up or
/// priority.
#[utoipa::path(patch, path = "/v1/schedules/{schedule_id}", tag = "schedules", request_body = SchedulePatch,
    params(("schedule_id" = String, Path, description = "Schedule id")),
    responses((status = 200, description = "The changed schedule", body = ScheduleView),
              (status = 400, description = "Malformed JSON, or the id is not a uuid", body = ErrorBody),
              (status = 404, description = "No such schedule", body = ErrorBody),
              (status = 413, description = "Body too large", body = ErrorBody),
              (status = 415, description = "Not JSON", body = ErrorBody),
              (status = 422, description = "An invalid field (named)", body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<SchedulePatch>,
) -> Result<impl IntoResponse, ApiError> {
    let id = parse_uuid("schedule_id", &id)?;
    check_text("cron", patch.cron.as_ref())?;
    check_text("timezone", patch.timezone.as_ref())?;
    check_context(patch.context.as_ref())?;
    Ok(Json(schedules::update(&state.pool, &state.catalog, id, patch).await?))
}

/// `DELETE /v1/schedules/{schedule_id}`: 204; the tasks it started are kept.
#[utoipa::path(delete, path = "/v1/schedules/{schedule_id}", tag = "schedules",
    params(("schedule_id" = String, Path, description = "Schedule id")),
    responses((status = 204, description = "Deleted"),
              (status = 400, description = "Not a uuid", body = ErrorBody),
              (status = 404, description = "No such schedule", body = ErrorBody)))]
pub async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Result<impl IntoResponse, ApiError> {
    let id = parse_uuid("schedule_id", &id)?;
    schedules::delete(&state.pool, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
