//! # tasker-worker-foundation
//!
//! Everything a Tasker worker needs except its handlers: it reads step messages from its queues
//! (event-driven with a fallback poll), claims each step under a lease with a claim token, runs the
//! registered [`StepHandler`] with a timeout, keeps leases alive while handlers run, and reports outcomes in
//! batches — each report one transaction that writes the result only if the claim still holds.
//!
//! ```no_run
//! use tasker_worker_foundation::{handler_fn, StepError, WorkerBuilder};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn example() -> anyhow::Result<()> {
//! let config = tasker_shared::config::TaskerConfig::load()?;
//! let worker = WorkerBuilder::new(config)
//!     .register("greetings.hello", handler_fn(|ctx| async move {
//!         let name = ctx.task_context["name"].as_str().ok_or_else(|| StepError::permanent("name missing"))?;
//!         Ok(serde_json::json!({"greeting": format!("hello {name}")}))
//!     }))
//!     .build()
//!     .await?;
//! worker.run(CancellationToken::new()).await?;
//! # Ok(()) }
//! ```

pub mod builder;
pub mod checkpoint;
pub mod embedded;
pub mod error;
pub mod ffi_bridge;
pub mod handler;
pub mod heartbeat;
pub mod host_log;
pub mod http;
pub mod in_flight;
pub mod outcome;
mod presence;
mod queue_watcher;
pub mod registry;
pub mod step_claimer;
pub mod step_completer;
pub mod step_reporter;
pub mod worker;

pub use builder::WorkerBuilder;
pub use embedded::{EmbeddedOptions, EmbeddedWorker};
pub use error::{Result, WorkerError};
pub use ffi_bridge::{FfiBridge, StepEvent};
pub use handler::{handler_fn, StepContext, StepError, StepErrorKind, StepHandler};
pub use outcome::{batches, decision};
pub use registry::HandlerRegistry;
pub use worker::Worker;
