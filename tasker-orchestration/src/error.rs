//! Errors of the orchestration core (the API maps them to HTTP in `api::error`).

/// Shorthand for results whose error is [`OrchestrationError`].
pub type Result<T, E = OrchestrationError> = std::result::Result<T, E>;

/// What can go wrong creating, reading or advancing tasks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OrchestrationError {
    /// No template with that namespace, name (and version).
    #[error("no task template {namespace}/{name}{}", version.as_deref().map(|v| format!("@{v}")).unwrap_or_default())]
    TemplateNotFound {
        /// Namespace asked for.
        namespace: String,
        /// Name asked for.
        name: String,
        /// Version asked for, if any.
        version: Option<String>,
    },
    /// The task context does not satisfy the template's input schema.
    #[error("invalid context at `{field}`: {message}")]
    InvalidContext {
        /// Dotted path of the first offending value (`context.even_number`).
        field: String,
        /// What the schema requires there.
        message: String,
        /// Every violation, the first one included, as (field, message).
        errors: Vec<(String, String)>,
    },
    /// An idempotency key already used for the template, with another context.
    #[error("idempotency key `{key}` was used for task {task_uuid} with another context")]
    IdempotencyConflict {
        /// The key.
        key: String,
        /// The task created with it.
        task_uuid: uuid::Uuid,
    },
    /// No task with that id.
    #[error("task {0} not found")]
    TaskNotFound(uuid::Uuid),
    /// No step with that id in that task.
    #[error("step {step_uuid} not found in task {task_uuid}")]
    StepNotFound {
        /// The task asked for.
        task_uuid: uuid::Uuid,
        /// The step asked for.
        step_uuid: uuid::Uuid,
    },
    /// No schedule with that id.
    #[error("schedule {0} not found")]
    ScheduleNotFound(uuid::Uuid),
    /// A request field with a value that cannot be used (`priority`, `run_at`, `cron`, …).
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The action does not apply to the task or step in its current state.
    #[error("{0}")]
    Conflict(String),
    /// Database failure.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Failure in shared code (messaging, templates).
    #[error(transparent)]
    Shared(#[from] tasker_shared::TaskerError),
}
