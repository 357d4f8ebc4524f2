//! What can go wrong, and the exit code each outcome maps to.

/// A command's failure; [`CliError::exit_code`] is what the process exits with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The task ended in `error` or `cancelled` (with `--wait` or `watch`).
    #[error("task {task} ended `{state}`{detail}")]
    TaskFailed {
        /// The task.
        task: String,
        /// Its final state.
        state: String,
        /// The failed steps' errors (`: step x: message`), or nothing.
        detail: String,
    },
    /// No answer from the server, or a 5xx.
    #[error("{0}")]
    Unavailable(String),
    /// 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// Another 4xx: the server's message and the field it names.
    #[error("rejected ({status}): {message}{}", field.as_ref().map(|f| format!(" [field: {f}]")).unwrap_or_default())]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
        /// The request field at fault.
        field: Option<String>,
    },
    /// Bad input caught before any request (a file that is not JSON or YAML, a bad time).
    #[error("{0}")]
    Input(String),
}

impl CliError {
    /// 1 task failed, 2 usage, 3 unreachable or 5xx, 4 not found, 5 rejected input.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::TaskFailed { .. } => 1,
            Self::Input(_) => 2,
            Self::Unavailable(_) => 3,
            Self::NotFound(_) => 4,
            Self::Rejected { .. } => 5,
        }
    }
}

impl From<tasker_client::ClientError> for CliError {
    fn from(e: tasker_client::ClientError) -> Self {
        use tasker_client::ClientError as E;
        match e {
            E::Api { status: 404, message, .. } => Self::NotFound(message),
            E::Api { status, message, field, .. } if (400..500).contains(&status) => {
                Self::Rejected { status, message, field }
            }
            E::Api { status, message, .. } => Self::Unavailable(format!("server error {status}: {message}")),
            E::Invalid(message) => Self::Input(message),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// A command's result.
pub type CliResult<T = ()> = Result<T, CliError>;
