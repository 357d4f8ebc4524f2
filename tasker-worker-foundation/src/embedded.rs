//! A worker embedded in a host-language process: its own tokio runtime on background threads, host
//! handlers served through the [`FfiBridge`]. The bindings wrap this type and nothing else.

use crate::builder::WorkerBuilder;
use crate::ffi_bridge::{FfiBridge, StepEvent};
use crate::{Result, StepError, WorkerError};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tasker_shared::config::TaskerConfig;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What a host passes to start a worker.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedOptions {
    /// Overrides the configured database URL.
    pub database_url: Option<String>,
    /// Overrides the configured template directory.
    pub template_path: Option<PathBuf>,
    /// Serve exactly these queues instead of deriving them from the templates (see `WorkerBuilder::queues`).
    pub queues: Option<Vec<String>>,
    /// Serve `/health` and `/metrics` on this address; `None` (the default) serves no HTTP.
    pub bind: Option<String>,
    /// Most steps handed to the host at once (the worker's concurrency).
    pub max_concurrency: Option<u32>,
    /// The host language (`python`, `ruby`), recorded in the workers registry.
    pub language: Option<String>,
}

/// A running embedded worker. Every method takes `&self`, so host threads can wait for events, complete
/// them and stop the worker concurrently.
pub struct EmbeddedWorker {
    runtime: Runtime,
    bridge: Arc<FfiBridge>,
    shutdown: CancellationToken,
    task: Mutex<Option<JoinHandle<Result<()>>>>,
    queues: Vec<String>,
}

impl EmbeddedWorker {
    /// Load the configuration (`TaskerConfig::load` plus `options`), register `handler_names` as host
    /// handlers and start claiming. Fails like [`WorkerBuilder::build`] (duplicate names, nothing to serve,
    /// database unreachable).
    pub fn start(handler_names: &[String], options: EmbeddedOptions) -> Result<Self> {
        let mut config = TaskerConfig::load()?;
        if let Some(url) = options.database_url {
            config.database.url = url;
        }
        if let Some(path) = options.template_path {
            config.templates.path = path;
        }
        let serve_http = options.bind.is_some();
        if let Some(bind) = options.bind {
            config.worker.bind = bind;
        }
        if let Some(n) = options.max_concurrency {
            config.worker.max_concurrency = n.max(1);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tasker-worker")
            .enable_all()
            .build()
            .map_err(|source| WorkerError::Bind { bind: "tokio runtime".into(), source })?;
        let bridge = FfiBridge::new(config.worker.max_concurrency as usize);
        let mut builder = WorkerBuilder::new(config).serve_http(serve_http);
        for name in handler_names {
            builder = builder.register_arc(name.clone(), bridge.handler());
        }
        if let Some(queues) = options.queues {
            builder = builder.queues(queues);
        }
        if let Some(language) = options.language {
            builder = builder.language(language);
        }
        let worker = runtime.block_on(builder.build())?;
        let queues = worker.queues().to_vec();
        let shutdown = CancellationToken::new();
        let task = runtime.spawn(worker.run(shutdown.clone()));
        Ok(Self { runtime, bridge, shutdown, task: Mutex::new(Some(task)), queues })
    }

    /// The queues being read.
    pub fn queues(&self) -> &[String] {
        &self.queues
    }

    /// Wait up to `timeout` for the next step (call with the interpreter lock released).
    pub fn next_event(&self, timeout: Duration) -> Option<StepEvent> {
        self.runtime.block_on(self.bridge.next_event(timeout))
    }

    /// Hand back an outcome (JSON, see [`crate::ffi_bridge::HostOutcome`]); false if nobody waits for it.
    pub fn complete_json(&self, event_id: u64, outcome: &str) -> std::result::Result<bool, String> {
        self.bridge.complete_json(event_id, outcome)
    }

    /// Save a checkpoint (JSON) for event `event_id`'s step; blocks until it is stored (call with the interpreter
    /// lock released). The error says why it was not saved, and whether trying again can help (its kind).
    pub fn save_checkpoint(&self, event_id: u64, checkpoint_json: &str) -> std::result::Result<(), StepError> {
        self.runtime.block_on(self.bridge.save_checkpoint(event_id, checkpoint_json))
    }

    /// Whether the host should stop working on event `event_id` (see [`FfiBridge::is_cancelled`]).
    pub fn is_cancelled(&self, event_id: u64) -> bool {
        self.bridge.is_cancelled(event_id)
    }

    /// Whether the worker is still running.
    pub fn is_running(&self) -> bool {
        self.task.lock().expect("embedded worker poisoned").as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stop claiming, let in-flight steps finish within the grace period (their events can still be
    /// completed meanwhile from other host threads), release the rest. Idempotent.
    pub fn stop(&self) -> Result<()> {
        self.shutdown.cancel();
        let task = self.task.lock().expect("embedded worker poisoned").take();
        let outcome = match task {
            Some(task) => self.runtime.block_on(task).unwrap_or_else(|e| Err(WorkerError::Crashed(e.to_string()))),
            None => Ok(()),
        };
        self.bridge.close();
        outcome
    }
}

impl Drop for EmbeddedWorker {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
