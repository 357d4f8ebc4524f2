//! `tasker._native`: the Python face of the embedded Tasker worker. Thin glue only: the worker foundation
//! claims, times out, persists and reports; Python waits for step events (with the GIL released) and hands
//! back outcomes as JSON.

use pyo3::exceptions::{PyConnectionError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tasker_worker_foundation::{EmbeddedOptions, EmbeddedWorker, StepErrorKind};

/// How long one wait holds the GIL released before checking for signals (Ctrl-C).
const SLICE: Duration = Duration::from_millis(100);

/// A running worker whose handlers live in Python.
#[pyclass(module = "tasker._native", frozen)]
struct NativeWorker {
    inner: EmbeddedWorker,
}

#[pymethods]
impl NativeWorker {
    /// Start a worker serving `handler_names`; raises `RuntimeError` if it cannot (nothing to serve,
    /// database unreachable, duplicate names).
    #[new]
    #[pyo3(signature = (handler_names, database_url=None, template_path=None, queues=None, concurrency=None, bind=None))]
    fn new(
        py: Python<'_>,
        handler_names: Vec<String>,
        database_url: Option<String>,
        template_path: Option<PathBuf>,
        queues: Option<Vec<String>>,
        concurrency: Option<u32>,
        bind: Option<String>,
    ) -> PyResult<Self> {
        let options = EmbeddedOptions {
            database_url,
            template_path,
            queues,
            bind,
            max_concurrency: concurrency,
            language: Some("python".into()),
        };
        let inner = py
            .detach(|| EmbeddedWorker::start(&handler_names, options))
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(Self { inner })
    }

    /// The next step event as a JSON string, or `None` after `timeout_ms`. The GIL is released while
    /// waiting, in short slices so that signals are seen.
    fn next_event(&self, py: Python<'_>, timeout_ms: u64) -> PyResult<Option<String>> {
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        loop {
            let left = deadline.saturating_duration_since(Instant::now()).min(SLICE);
            if let Some(event) = py.detach(|| self.inner.next_event(left)) {
                return serde_json::to_string(&event).map(Some).map_err(|e| PyRuntimeError::new_err(e.to_string()));
            }
            py.check_signals()?;
            if Instant::now() >= deadline || !self.inner.is_running() {
                return Ok(None);
            }
        }
    }

    /// Hand back the outcome of event `event_id` (JSON); returns False if the step no longer waits for it.
    fn complete(&self, event_id: u64, outcome_json: &str) -> PyResult<bool> {
        self.inner.complete_json(event_id, outcome_json).map_err(PyValueError::new_err)
    }

    /// Store a checkpoint (JSON) for event `event_id`'s step, with the GIL released; raises `ConnectionError` when
    /// the database could not be reached (trying again can help), `RuntimeError` naming why it was not stored
    /// otherwise (the claim was lost, or the step is no longer this worker's).
    fn save_checkpoint(&self, py: Python<'_>, event_id: u64, checkpoint_json: &str) -> PyResult<()> {
        py.detach(|| self.inner.save_checkpoint(event_id, checkpoint_json)).map_err(|e| match e.kind {
            StepErrorKind::Retryable => PyConnectionError::new_err(e.message),
            _ => PyRuntimeError::new_err(e.message),
        })
    }

    /// Whether the step of event `event_id` was cancelled (or its outcome is no longer awaited).
    fn is_cancelled(&self, event_id: u64) -> bool {
        self.inner.is_cancelled(event_id)
    }

    /// Whether the worker is running.
    fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    /// The queues this worker reads.
    #[getter]
    fn queues(&self) -> Vec<String> {
        self.inner.queues().to_vec()
    }

    /// Stop claiming, let in-flight steps finish within the grace period, release the rest. The GIL is
    /// released meanwhile so that handler threads can complete their events.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.stop()).map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }
}

/// The native module.
/// Queue the worker's log lines for Python (see `tasker_worker_foundation::host_log`); False when another
/// `tracing` subscriber was installed first.
#[pyfunction]
fn install_logging() -> bool {
    tasker_worker_foundation::host_log::install_host_logging()
}

/// The next worker log line as JSON (`{level, target, message, fields}`), or `None` after `timeout_ms`. The GIL is
/// released while waiting.
#[pyfunction]
fn next_log(py: Python<'_>, timeout_ms: u64) -> PyResult<Option<String>> {
    let record = py.detach(|| tasker_worker_foundation::host_log::next_host_log(Duration::from_millis(timeout_ms)));
    record.map(|r| serde_json::to_string(&r).map_err(|e| PyRuntimeError::new_err(e.to_string()))).transpose()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeWorker>()?;
    m.add_function(wrap_pyfunction!(install_logging, m)?)?;
    m.add_function(wrap_pyfunction!(next_log, m)?)?;
    Ok(())
}
