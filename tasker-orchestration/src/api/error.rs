//! The API's one error type and its mapping to HTTP. Database errors are logged and answered with a generic
//! 500 (or 503 when the database is unreachable); they never leak details.

use crate::error::OrchestrationError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An API error: a status, a stable code, a message and the offending field when there is one.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code (`validation_error`, `not_found`, …).
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// The request field at fault.
    pub field: Option<String>,
    /// Every violation as (field, message), when there are several (the first is `field` and `message`).
    pub errors: Vec<(String, String)>,
}

impl ApiError {
    /// 400 naming a field.
    pub fn bad_request(field: impl Into<Option<String>>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message, field.into())
    }

    /// 422 naming a field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_error", message, Some(field.into()))
    }

    /// Any status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>, field: Option<String>) -> Self {
        Self { status, code, message: message.into(), field, errors: Vec::new() }
    }

    /// 409: the resource is in a state where the action does not apply.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message, None)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message, None)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message, "field": self.field});
        if !self.errors.is_empty() {
            error["errors"] =
                self.errors.iter().map(|(field, message)| json!({"field": field, "message": message})).collect();
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

fn database_error(e: &sqlx::Error) -> ApiError {
    // SQLSTATE class 22 (data exception: bad encoding, out-of-range value, ...) can only come from input
    // that slipped past validation: a client error, not a server fault.
    if let Some(code) = e.as_database_error().and_then(|d| d.code()) {
        if code.starts_with("22") {
            tracing::info!(error = %e, "request rejected by the database as invalid data");
            return ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_value",
                "a value in the request is not acceptable",
                None,
            );
        }
    }
    // Unreachable, restarting (57P01 admin shutdown, 57P03 cannot connect now), overloaded (53300 too many
    // connections) or too slow (57014 statement timeout): try again later.
    let transient_code = e
        .as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300" | "57014"));
    let unavailable =
        transient_code || matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed);
    if unavailable {
        tracing::warn!(error = %e, "database unavailable");
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "database unavailable, try again", None);
    }
    tracing::error!(error = %e, "database error");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error", None)
}

impl From<OrchestrationError> for ApiError {
    fn from(e: OrchestrationError) -> Self {
        match &e {
            OrchestrationError::TemplateNotFound { .. } => ApiError::not_found(e.to_string()),
            OrchestrationError::TaskNotFound(_)
            | OrchestrationError::StepNotFound { .. }
            | OrchestrationError::ScheduleNotFound(_) => ApiError::not_found(e.to_string()),
            OrchestrationError::Conflict(message) => ApiError::conflict(message.clone()),
            OrchestrationError::Invalid { field, message } => ApiError::invalid(field.clone(), message.clone()),
            OrchestrationError::InvalidContext { field, message, errors } => {
                ApiError { errors: errors.clone(), ..ApiError::invalid(field.clone(), message.clone()) }
            }
            OrchestrationError::IdempotencyConflict { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_conflict",
                e.to_string(),
                Some("idempotency_key".into()),
            ),
            OrchestrationError::Database(db) => database_error(db),
            OrchestrationError::Shared(tasker_shared::TaskerError::Database(db)) => database_error(db),
            _ => {
                tracing::error!(error = %e, "internal error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error", None)
            }
        }
    }
}

/// Unknown routes answer the JSON error shape too.
pub async fn not_found_route() -> ApiError {
    ApiError::not_found("no such route")
}

/// A known route asked with a method it does not have: the router's `405` (which carries `Allow`) in the JSON
/// error shape, `Allow` kept.
pub async fn method_not_allowed_json(response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return response;
    }
    let allow = response.headers().get(axum::http::header::ALLOW).cloned();
    let allowed = allow.as_ref().and_then(|a| a.to_str().ok()).unwrap_or_default().to_string();
    let mut out = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this route allows {allowed}"),
        None,
    )
    .into_response();
    if let Some(allow) = allow {
        out.headers_mut().insert(axum::http::header::ALLOW, allow);
    }
    out
}
