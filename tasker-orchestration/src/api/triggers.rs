//! `POST /v1/events`: emit an event; every template subscribed to it (`triggers:`) starts a task.

use super::error::ApiError;
use super::extract::JsonBody;
use super::openapi::ErrorBody;
use super::AppState;
use crate::event_triggers::{EmitEvent, EventOutcome, Triggers};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;

/// `POST /v1/events`: 202 with the tasks started (and the templates that refused the payload); the same `key`
/// again answers 200 with the same outcome.
#[utoipa::path(post, path = "/v1/events", tag = "schedules", request_body = EmitEvent,
    responses((status = 202, description = "Emitted: the tasks it started", body = EventOutcome),
              (status = 200, description = "This key was emitted before: its outcome", body = EventOutcome),
              (status = 400, description = "Malformed JSON", body = ErrorBody),
              (status = 413, description = "Body too large", body = ErrorBody),
              (status = 415, description = "Not JSON", body = ErrorBody),
              (status = 409, description = "The key was used for another event", body = ErrorBody),
              (status = 422, description = "An invalid field (named)", body = ErrorBody)))]
pub async fn emit(
    State(state): State<AppState>,
    JsonBody(event): JsonBody<EmitEvent>,
) -> Result<impl IntoResponse, ApiError> {
    if event.name.contains('\0') || event.key.contains('\0') {
        return Err(ApiError::invalid(if event.name.contains('\0') { "name" } else { "key" }, "must not contain NUL"));
    }
    if event.payload.as_ref().is_some_and(tasker_shared::jsonb::contains_nul) {
        return Err(ApiError::invalid("payload", "strings must not contain NUL characters"));
    }
    let triggers =
        Triggers { pool: &state.pool, catalog: &state.catalog, writer: &state.writer, execution: &state.execution };
    let (new, outcome) = triggers.emit(event).await?;
    state.events.kick();
    Ok((if new { StatusCode::ACCEPTED } else { StatusCode::OK }, Json(outcome)))
}
