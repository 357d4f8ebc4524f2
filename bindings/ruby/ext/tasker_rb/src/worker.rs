//! `Tasker::Native::Worker`: one [`EmbeddedWorker`] seen from Ruby. Every blocking call releases the GVL
//! and waits in slices of at most [`SLICE`], checking Ruby's interrupts between slices, so Ctrl-C,
//! `Thread#raise` and `Timeout` work while a thread waits for steps.

use crate::error::{tasker_error, worker_error};
use crate::nogvl::{without_gvl, NoGvl};
use magnus::{function, method, prelude::*, Error, RModule, Ruby};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tasker_worker_foundation::{EmbeddedOptions, EmbeddedWorker, StepErrorKind};

/// Longest single wait without the GVL.
const SLICE: Duration = Duration::from_millis(100);

/// A running worker whose handlers live in Ruby.
#[magnus::wrap(class = "Tasker::Native::Worker", free_immediately, size)]
pub struct NativeWorker {
    inner: EmbeddedWorker,
}

/// Run `func` without the GVL until it has run once (an interrupt pending beforehand is handled first,
/// which may raise); a panic becomes a `Tasker::WorkerError`.
pub(crate) fn blocking<F: FnMut() -> R, R>(ruby: &Ruby, mut func: F) -> Result<R, Error> {
    loop {
        match without_gvl(&mut func) {
            NoGvl::Done(value) => return Ok(value),
            NoGvl::Panicked(message) => return Err(worker_error(ruby, format!("internal error: {message}"))),
            NoGvl::Interrupted => ruby.thread_check_ints()?,
        }
    }
}

impl NativeWorker {
    /// `Worker.start(handler_names, database_url, template_path, queues, concurrency, bind)`: connect,
    /// prepare the queues and start claiming steps for `handler_names` (nil options keep the
    /// configuration's values; `bind` also turns on the health endpoints). Raises `Tasker::WorkerError`
    /// if the worker cannot start (nothing to serve, database unreachable, duplicate names).
    fn start(
        ruby: &Ruby,
        handler_names: Vec<String>,
        database_url: Option<String>,
        template_path: Option<PathBuf>,
        queues: Option<Vec<String>>,
        concurrency: Option<u32>,
        bind: Option<String>,
    ) -> Result<Self, Error> {
        let options = EmbeddedOptions {
            database_url,
            template_path,
            queues,
            bind,
            max_concurrency: concurrency,
            language: Some("ruby".into()),
        };
        let started = blocking(ruby, || EmbeddedWorker::start(&handler_names, options.clone()))?;
        let inner = started.map_err(|e| worker_error(ruby, e.to_string()))?;
        Ok(Self { inner })
    }

    /// `next_event(timeout_ms)`: the next step event as a JSON string, or nil after `timeout_ms`.
    fn next_event(ruby: &Ruby, rb_self: &Self, timeout_ms: u64) -> Result<Option<String>, Error> {
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        loop {
            let slice = deadline.saturating_duration_since(Instant::now()).min(SLICE);
            if let Some(event) = blocking(ruby, || rb_self.inner.next_event(slice))? {
                return serde_json::to_string(&event).map(Some).map_err(|e| worker_error(ruby, e.to_string()));
            }
            ruby.thread_check_ints()?;
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// `save_checkpoint(event_id, checkpoint_json)`: store a checkpoint for the event's step (GVL released);
    /// raises `Tasker::CheckpointUnavailableError` (retryable) when the database could not be reached, and
    /// `Tasker::WorkerError` naming why it was not stored otherwise (the claim was lost, …).
    fn save_checkpoint(ruby: &Ruby, rb_self: &Self, event_id: u64, checkpoint_json: String) -> Result<(), Error> {
        blocking(ruby, || rb_self.inner.save_checkpoint(event_id, &checkpoint_json))?.map_err(|e| match e.kind {
            StepErrorKind::Retryable => tasker_error(ruby, "CheckpointUnavailableError", e.message),
            _ => worker_error(ruby, e.message),
        })
    }

    /// `complete(event_id, outcome_json)`: hand back an outcome; false if the step no longer waits for it
    /// (it timed out, or the worker stopped). Raises `Tasker::WorkerError` on malformed JSON.
    fn complete(ruby: &Ruby, rb_self: &Self, event_id: u64, outcome_json: String) -> Result<bool, Error> {
        rb_self.inner.complete_json(event_id, &outcome_json).map_err(|e| worker_error(ruby, e))
    }

    /// `cancelled?(event_id)`: whether the event's step was cancelled (or its outcome is no longer awaited).
    fn is_cancelled(&self, event_id: u64) -> bool {
        self.inner.is_cancelled(event_id)
    }

    /// `running?`: whether the worker is still claiming steps.
    fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    /// `queues`: the queues being read.
    fn queues(&self) -> Vec<String> {
        self.inner.queues().to_vec()
    }

    /// `stop`: stop claiming, let in-flight steps finish within the grace period (other Ruby threads keep
    /// completing their events meanwhile: the GVL is released), release the rest. Idempotent.
    fn stop(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        blocking(ruby, || rb_self.inner.stop())?.map_err(|e| worker_error(ruby, e.to_string()))
    }
}

/// Define `Tasker::Native::Worker` under `native`.
pub fn define(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("Worker", ruby.class_object())?;
    class.define_singleton_method("start", function!(NativeWorker::start, 6))?;
    class.define_method("next_event", method!(NativeWorker::next_event, 1))?;
    class.define_method("complete", method!(NativeWorker::complete, 2))?;
    class.define_method("save_checkpoint", method!(NativeWorker::save_checkpoint, 2))?;
    class.define_method("cancelled?", method!(NativeWorker::is_cancelled, 1))?;
    class.define_method("running?", method!(NativeWorker::is_running, 0))?;
    class.define_method("queues", method!(NativeWorker::queues, 0))?;
    class.define_method("stop", method!(NativeWorker::stop, 0))?;
    Ok(())
}
