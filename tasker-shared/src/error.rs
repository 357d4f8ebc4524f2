//! The error vocabulary shared by every Tasker crate.

use std::path::PathBuf;

/// Shorthand for results whose error is [`TaskerError`].
pub type Result<T, E = TaskerError> = std::result::Result<T, E>;

/// Errors raised by shared Tasker code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskerError {
    /// Configuration could not be loaded or failed validation.
    #[error("configuration error at `{key}`: {message}")]
    Config {
        /// The dotted key (or file) the error is about.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A task template failed to parse or validate.
    #[error("{0}")]
    Template(#[from] crate::template::TemplateError),
    /// A database call failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Installing pgmq failed.
    #[error("pgmq install failed: {0}")]
    Pgmq(String),
    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// JSON (de)serialisation failed.
    #[error("json error: {0}")]
    Json(#[from] serde_json::Error),
}
