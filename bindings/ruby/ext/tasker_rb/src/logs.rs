//! The worker's log lines for Ruby: `Tasker::Native.install_logging` queues them
//! (`tasker_worker_foundation::host_log`), `Tasker::Native.next_log(timeout_ms)` takes the next one as JSON
//! (`{level, target, message, fields}`) with the GVL released; `lib/tasker/logging.rb` hands them to a `Logger`.

use crate::error::worker_error;
use crate::worker::blocking;
use magnus::{Error, Ruby};
use std::time::Duration;
use tasker_worker_foundation::host_log::{install_host_logging, next_host_log};

/// Queue the worker's log lines for Ruby; false when another tracing subscriber was installed first.
pub fn install_logging() -> bool {
    install_host_logging()
}

/// The next log line as JSON, or nil after `timeout_ms`.
pub fn next_log(ruby: &Ruby, timeout_ms: u64) -> Result<Option<String>, Error> {
    let record = blocking(ruby, || next_host_log(Duration::from_millis(timeout_ms)))?;
    record.map(|r| serde_json::to_string(&r).map_err(|e| worker_error(ruby, e.to_string()))).transpose()
}
