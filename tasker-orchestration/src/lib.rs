//! # tasker-orchestration
//!
//! The orchestration side of Tasker: it turns a task request into a task with steps and enqueues the root
//! steps ([`task_initializer`]), applies worker results in batches — complete, retry with backoff, or fail —
//! enqueues newly ready steps and finalizes tasks ([`result_processor`]), and serves the REST API ([`api`]).
//!
//! Any number of orchestration servers may run against one database: every result batch locks its tasks in
//! a fixed order and every transition is guarded, so each result is applied once and each task finalized once.

pub mod analytics;
pub mod api;
pub mod concurrency;
pub mod dead_letters;
pub mod delayed_start;
mod dynamic_steps;
pub mod error;
pub mod event_triggers;
pub mod events;
pub mod overview;
pub mod queue_vacuum;
pub mod rate_limits;
pub mod result_processor;
pub mod retention;
pub mod schedule_firing;
pub mod scheduler;
pub mod schedules;
pub mod server;
mod step_outcome;
pub mod task_actions;
pub mod task_initializer;
pub mod task_query;
pub mod task_writer;
pub mod template_catalog;
pub mod template_registry;
pub mod workers;

pub use error::{OrchestrationError, Result};
pub use server::OrchestrationServer;
