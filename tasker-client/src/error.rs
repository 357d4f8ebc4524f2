//! What a request can end in besides success.

use serde_json::Value;

/// A client error: the server refused (with the API's code, message and field), could not be reached, or a
/// wait ran out of time.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer from the server (connection refused, reset, timed out), or a stream that kept breaking.
    #[error("{0}")]
    Unreachable(String),
    /// A non-2xx answer: `{"error": {"code", "message", "field"}}`.
    #[error("{status} {code}: {message}{}", field.as_ref().map(|f| format!(" [field: {f}]")).unwrap_or_default())]
    Api {
        /// HTTP status.
        status: u16,
        /// The API's code (`not_found`, `validation_error`, `idempotency_conflict`, …).
        code: String,
        /// The server's message.
        message: String,
        /// The request field at fault.
        field: Option<String>,
    },
    /// The task was not final within the wait; its latest state is kept.
    #[error("task {} is still `{}` after {timeout:?}", task.task_uuid(), task.state())]
    WaitTimeout {
        /// The task as last read.
        task: Box<crate::Task>,
        /// The time waited.
        timeout: std::time::Duration,
    },
    /// An option that cannot be sent (an API key with characters not allowed in a header).
    #[error("{0}")]
    Invalid(String),
}

impl ClientError {
    /// The error for a non-2xx answer with the API's error body.
    pub fn from_response(status: u16, body: &Value) -> Self {
        let message = body["error"]["message"].as_str().map(str::to_string).unwrap_or_else(|| {
            if body.is_null() {
                format!("HTTP {status}")
            } else {
                body.to_string()
            }
        });
        Self::Api {
            status,
            code: body["error"]["code"].as_str().unwrap_or("http_error").to_string(),
            message,
            field: body["error"]["field"].as_str().map(str::to_string),
        }
    }

    /// The HTTP status of an [`ClientError::Api`] answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client result.
pub type ClientResult<T> = Result<T, ClientError>;
