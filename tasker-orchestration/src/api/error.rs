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
}

impl ApiError {
    /// 400 naming a field.
    pub fn bad_request(field: impl Into<Option<String>>, message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: "bad_request", message: message.into(), field: field.into() }
    }

    /// 422 naming a field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "validation_error",
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// 409: the resource is in a state where the action does not apply.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self { status: StatusCode::CONFLICT, code: "conflict", message: message.into(), field: None }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self { status: StatusCode::NOT_FOUND, code: "not_found", message: message.into(), field: None }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message, "field": self.field}});
        (self.status, Json(body)).into_response()
    }
}

fn database_error(e: &sqlx::Error) -> ApiError {
    // SQLSTATE class 22 (data exception: bad encoding, out-of-range value, ...) can only come from input
    // that slipped past validation: a client error, not a server fault.
    if let Some(code) = e.as_database_error().and_then(|d| d.code()) {
        if code.starts_with("22") {
            tracing::info!(error = %e, "request rejected by the database as invalid data");
            return ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid_value",
                message: "a value in the request is not acceptable".into(),
                field: None,
            };
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
        return ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: "database unavailable, try again".into(),
            field: None,
        };
    }
    tracing::error!(error = %e, "database error");
    ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "internal_error",
        message: "internal error".into(),
        field: None,
    }
}

impl From<OrchestrationError> for ApiError {
    fn from(e: OrchestrationError) -> Self {
        match &e {
            OrchestrationError::TemplateNotFound { .. } => ApiError::not_found(e.to_string()),
            OrchestrationError::TaskNotFound(_) | OrchestrationError::StepNotFound { .. } => {
                ApiError::not_found(e.to_string())
            }
            OrchestrationError::Conflict(message) => ApiError::conflict(message.clone()),
            OrchestrationError::InvalidContext { field, message } => ApiError::invalid(field.clone(), message.clone()),
            OrchestrationError::Database(db) => database_error(db),
            OrchestrationError::Shared(tasker_shared::TaskerError::Database(db)) => database_error(db),
            _ => {
                tracing::error!(error = %e, "internal error");
                ApiError {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    code: "internal_error",
                    message: "internal error".into(),
                    field: None,
                }
            }
        }
    }
}

/// Unknown routes answer the JSON error shape too.
pub async fn not_found_route() -> ApiError {
    ApiError::not_found("no such route")
}
