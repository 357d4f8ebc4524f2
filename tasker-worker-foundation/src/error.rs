//! Errors of the worker foundation (not of handlers: those are [`crate::StepError`]).

/// Shorthand for results whose error is [`WorkerError`].
pub type Result<T, E = WorkerError> = std::result::Result<T, E>;

/// What can stop a worker from starting or running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// Two handlers were registered under one name.
    #[error("handler `{0}` is registered twice")]
    DuplicateHandler(String),
    /// A template routes a step to a queue this worker must serve, with a handler it does not have.
    #[error("queue `{queue}` cannot be served: template {template}, field `{field}`: handler `{handler}` is not registered in this worker")]
    UnknownHandler {
        /// The queue given to serve.
        queue: String,
        /// `namespace/name@version`.
        template: String,
        /// The step field naming the handler (`steps[2].handler`).
        field: String,
        /// The missing handler name.
        handler: String,
    },
    /// The worker would serve no queue.
    #[error("no queue to serve: no template under {path} routes steps only with handlers registered here to any queue (handlers: {handlers})")]
    NothingToServe {
        /// Where templates were looked for.
        path: String,
        /// The registered handler names.
        handlers: String,
    },
    /// Database failure.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Failure in shared code.
    #[error(transparent)]
    Shared(#[from] tasker_shared::TaskerError),
    /// The worker's task ended abnormally (a panic inside it).
    #[error("the worker stopped abnormally: {0}")]
    Crashed(String),
    /// Binding the HTTP listener failed.
    #[error("cannot bind {bind}: {source}")]
    Bind {
        /// The address.
        bind: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
