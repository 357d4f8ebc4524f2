//! The worker's log lines for a host language. An embedded worker (Python, Ruby) does not write to stderr itself:
//! its `tracing` events are queued here as [`HostLogRecord`]s, and a host thread takes them
//! ([`next_host_log`]) and hands them to the language's own logging (Python's `logging` logger `tasker`, Ruby's
//! `Logger`), which the application formats and routes (plain or JSON). The queue is bounded: a host that does not
//! drain it loses its oldest lines, never memory.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Lines kept for the host at most.
const CAPACITY: usize = 10_000;

/// One log line: its level (`ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE`), where it comes from, its message and
/// its fields (`task_uuid`, `step`, `attempt`, `error`, `queue`, …).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostLogRecord {
    /// Severity.
    pub level: &'static str,
    /// The Rust module that logged it.
    pub target: String,
    /// What happened.
    pub message: String,
    /// Structured details.
    pub fields: Map<String, Value>,
}

struct Queue {
    records: Mutex<VecDeque<HostLogRecord>>,
    ready: Condvar,
}

fn queue() -> &'static Queue {
    static QUEUE: OnceLock<Queue> = OnceLock::new();
    QUEUE.get_or_init(|| Queue { records: Mutex::new(VecDeque::new()), ready: Condvar::new() })
}

/// Send this process's worker logs to the host queue: installs the global `tracing` subscriber (filtered by
/// `RUST_LOG`, default `info,sqlx=warn`). Returns false when a subscriber was installed already (then the logs
/// go wherever that one sends them). Idempotent.
pub fn install_host_logging() -> bool {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::registry().with(filter).with(HostLayer).try_init().is_ok()
}

/// The next queued line, waiting at most `timeout` for one.
pub fn next_host_log(timeout: Duration) -> Option<HostLogRecord> {
    let q = queue();
    let deadline = Instant::now() + timeout;
    let mut records = q.records.lock().ok()?;
    loop {
        if let Some(record) = records.pop_front() {
            return Some(record);
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        records = q.ready.wait_timeout(records, left).ok()?.0;
    }
}

fn push(record: HostLogRecord) {
    let q = queue();
    if let Ok(mut records) = q.records.lock() {
        if records.len() >= CAPACITY {
            records.pop_front();
        }
        records.push_back(record);
        q.ready.notify_one();
    }
}

/// Turns each event into a [`HostLogRecord`].
struct HostLayer;

impl<S: Subscriber> Layer<S> for HostLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let metadata = event.metadata();
        push(HostLogRecord {
            level: metadata.level().as_str(),
            target: metadata.target().to_string(),
            message: fields.message.unwrap_or_default(),
            fields: fields.values,
        });
    }
}

#[derive(Default)]
struct Fields {
    message: Option<String>,
    values: Map<String, Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.values.insert(field.name().to_string(), value);
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_records_with_their_fields() {
        let subscriber = tracing_subscriber::registry().with(HostLayer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(task_uuid = "t-1", attempt = 2, retryable = true, error = %"boom", "step failed");
        });
        let record = next_host_log(Duration::from_secs(1)).expect("a record");
        assert_eq!((record.level, record.message.as_str()), ("WARN", "step failed"));
        assert_eq!(
            Value::Object(record.fields),
            serde_json::json!({"task_uuid": "t-1", "attempt": 2, "retryable": true, "error": "boom"})
        );
        assert_eq!(next_host_log(Duration::from_millis(10)), None, "nothing else queued");
    }
}
