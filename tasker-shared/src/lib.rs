//! # tasker-shared
//!
//! The floor of the Tasker workspace: domain states and their transition rules, the task template format,
//! layered configuration, the error vocabulary, retry backoff, database set-up (pgmq + migrations) and the
//! pgmq messaging used between orchestration and workers.
//!
//! Orchestration and the worker foundation both build on this crate and never on each other.

pub mod backoff;
pub mod config;
pub mod cron_spec;
pub mod db;
pub mod error;
pub mod jsonb;
pub mod messaging;
pub mod observability;
pub mod presence;
pub mod settle;
pub mod shutdown;
pub mod states;
pub mod template;

pub use error::{Result, TaskerError};

/// The embedded SQL migrations of the `tasker` schema. Run them with [`db::prepare`], which installs pgmq first
/// and tolerates migrations newer than this build (see there).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
