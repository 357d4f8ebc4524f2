//! The handler API: a [`StepHandler`] gets a [`StepContext`] and returns a JSON result or a [`StepError`]
//! that says what happens next (retry, retry after a delay, or fail permanently).

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What a handler sees of the step it runs.
#[derive(Debug, Clone)]
pub struct StepContext {
    /// The task.
    pub task_uuid: Uuid,
    /// The step.
    pub step_uuid: Uuid,
    /// Step name from the template.
    pub step_name: String,
    /// Handler name the step was routed by.
    pub handler: String,
    /// This attempt's number (1 for the first run).
    pub attempt: i32,
    /// Attempts allowed in all.
    pub max_attempts: i32,
    /// The task's input context.
    pub task_context: Value,
    /// Results of the steps this one depends on directly, by step name.
    pub dependency_results: Map<String, Value>,
    /// Results of the steps further upstream (ancestors that are not direct dependencies), by step name.
    pub upstream_results: Map<String, Value>,
    /// The step's `config` from the template (`{}` when unset).
    pub step_config: Value,
    /// How long the handler may run.
    pub timeout: Duration,
    /// The last checkpoint an earlier attempt saved (`None` on the first attempt, or when none was saved).
    pub checkpoint: Option<Value>,
    /// Saves this attempt's checkpoints (set by the worker; `None` in a hand-built context).
    pub checkpointer: Option<crate::checkpoint::Checkpointer>,
    /// A batch worker instance's work item: an element of its batchable step's `batches`, with its 1-based
    /// `index` added (`None` for other steps). Read it with [`StepContext::batch`].
    pub batch_item: Option<Value>,
    /// Cancelled when the step stops being this worker's to finish: its task was cancelled by an operator, or
    /// its claim was lost (lease expired and the step re-claimed elsewhere). The worker notices at its next
    /// lease heartbeat (every third of `worker.lease_seconds`). A handler watching this token has 2 s to
    /// return; its outcome is then reported and rejected (the claim no longer holds). After that it is aborted.
    pub cancelled: CancellationToken,
}

impl StepContext {
    /// The result of step `step`, which must be upstream of this one (a direct dependency or any step above
    /// it); a `null` result is `Value::Null`. Naming a step that is not upstream fails permanently, naming it and
    /// the steps that are (`error_class: "UnknownDependency"`), so a typo is not mistaken for a null result.
    pub fn dependency_result(&self, step: &str) -> Result<&Value, StepError> {
        if let Some(result) = self.dependency_results.get(step).or_else(|| self.upstream_results.get(step)) {
            return Ok(result);
        }
        let mut upstream: Vec<&str> =
            self.dependency_results.keys().chain(self.upstream_results.keys()).map(String::as_str).collect();
        upstream.sort_unstable();
        let listed = if upstream.is_empty() { "none".to_string() } else { upstream.join(", ") };
        Err(StepError::permanent(format!(
            "step `{step}` is not upstream of `{}`; the steps upstream are: {listed}",
            self.step_name
        ))
        .with_class("UnknownDependency"))
    }

    /// Durably store `checkpoint` on the step while this worker's claim holds, and renew the lease; the next
    /// attempt (after a retry, a crash or a lease expiry) reads it as [`StepContext::checkpoint`]. A lost claim is a
    /// permanent `ClaimLost` error (with `?`, the outcome is then rejected like any zombie's).
    pub async fn save_checkpoint(&self, checkpoint: Value) -> Result<(), StepError> {
        match &self.checkpointer {
            Some(saver) => saver.save(&checkpoint).await,
            None => {
                Err(StepError::permanent("this context has no worker to save checkpoints").with_class("NoCheckpointer"))
            }
        }
    }

    /// This batch worker instance's work item (its batchable step's element, with its 1-based `index`), or
    /// `None` when the step is not a batch worker instance.
    pub fn batch(&self) -> Option<&Value> {
        self.batch_item.as_ref()
    }

    /// The results of the instances of batch worker `worker` among this step's dependencies (a convergence
    /// step's view of a fan-out), in index order: `process_batch_001`, `process_batch_002`, …
    pub fn batch_results(&self, worker: &str) -> Vec<&Value> {
        let mut found: Vec<(u64, &Value)> = self
            .dependency_results
            .iter()
            .filter_map(|(name, result)| {
                let digits = name.strip_prefix(worker)?.strip_prefix('_')?;
                Some((digits.parse().ok()?, result))
            })
            .collect();
        found.sort_by_key(|(index, _)| *index);
        found.into_iter().map(|(_, result)| result).collect()
    }

    /// Deserialize field `key` of the task context.
    pub fn context_field<T: DeserializeOwned>(&self, key: &str) -> Result<T, StepError> {
        let value = self.task_context.get(key).cloned().unwrap_or(Value::Null);
        serde_json::from_value(value).map_err(|e| StepError::permanent(format!("context field `{key}`: {e}")))
    }

    /// Whether this is the last attempt allowed.
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

/// Whether a failed step may run again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepErrorKind {
    /// Retry with backoff while attempts remain.
    Retryable,
    /// Fail the step now.
    Permanent,
}

/// A handler failure, saying what should happen next.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    /// Retryable or permanent.
    pub kind: StepErrorKind,
    /// What went wrong.
    pub message: String,
    /// Retry no sooner than this (overrides the backoff).
    pub retry_after: Option<Duration>,
    /// The error's class or type name (e.g. a Ruby or Python exception class).
    pub error_class: Option<String>,
    /// A backtrace, when the handler language provides one.
    pub backtrace: Option<Vec<String>>,
}

impl StepError {
    /// A failure worth retrying.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            kind: StepErrorKind::Retryable,
            message: message.into(),
            retry_after: None,
            error_class: None,
            backtrace: None,
        }
    }

    /// A failure that retrying cannot fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self { kind: StepErrorKind::Permanent, ..Self::retryable(message) }
    }

    /// Ask for the retry to wait at least `delay`.
    pub fn retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }

    /// Record the error class.
    pub fn with_class(mut self, class: impl Into<String>) -> Self {
        self.error_class = Some(class.into());
        self
    }

    /// Record a backtrace.
    pub fn with_backtrace(mut self, lines: Vec<String>) -> Self {
        self.backtrace = Some(lines);
        self
    }

    /// The JSON stored on the step row and served by the API.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "message": self.message,
            "retryable": self.kind == StepErrorKind::Retryable,
        });
        if let Some(d) = self.retry_after {
            v["retry_after_ms"] = json!(d.as_millis() as u64);
        }
        if let Some(c) = &self.error_class {
            v["error_class"] = json!(c);
        }
        if let Some(b) = &self.backtrace {
            v["backtrace"] = json!(b);
        }
        v
    }
}

/// A step handler. Register it under a stable name; steps name it in their template.
#[async_trait]
pub trait StepHandler: Send + Sync + 'static {
    /// Run the step: return its result (any JSON) or an error.
    async fn call(&self, step: &StepContext) -> Result<Value, StepError>;
}

/// A handler from an async closure.
pub struct FnHandler<F>(F);

/// Wrap `f(ctx) -> impl Future<Output = Result<Value, StepError>>` as a [`StepHandler`].
pub fn handler_fn<F, Fut>(f: F) -> FnHandler<F>
where
    F: Fn(StepContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, StepError>> + Send + 'static,
{
    FnHandler(f)
}

#[async_trait]
impl<F, Fut> StepHandler for FnHandler<F>
where
    F: Fn(StepContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, StepError>> + Send + 'static,
{
    async fn call(&self, step: &StepContext) -> Result<Value, StepError> {
        (self.0)(step.clone()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_upstream_step_can_be_read_and_another_name_fails_naming_the_upstream_ones() {
        let mut parents = Map::new();
        parents.insert("b".into(), json!(null));
        let mut upstream = Map::new();
        upstream.insert("a".into(), json!({"n": 1}));
        let ctx = StepContext {
            task_uuid: Uuid::nil(),
            step_uuid: Uuid::nil(),
            step_name: "c".into(),
            handler: "h".into(),
            attempt: 1,
            max_attempts: 1,
            task_context: json!({}),
            dependency_results: parents,
            upstream_results: upstream,
            step_config: json!({}),
            timeout: Duration::from_secs(1),
            cancelled: Default::default(),
            checkpoint: None,
            checkpointer: None,
            batch_item: None,
        };
        assert_eq!(ctx.dependency_result("b").unwrap(), &Value::Null, "a null result is not a missing step");
        assert_eq!(ctx.dependency_result("a").unwrap(), &json!({"n": 1}), "a grandparent is readable");
        let err = ctx.dependency_result("typo").unwrap_err();
        assert_eq!(err.kind, StepErrorKind::Permanent);
        assert_eq!(err.error_class.as_deref(), Some("UnknownDependency"));
        assert_eq!(err.message, "step `typo` is not upstream of `c`; the steps upstream are: a, b");
    }

    #[test]
    fn error_json_says_what_happens_next() {
        let e = StepError::retryable("busy").retry_after(Duration::from_secs(2)).with_class("Busy");
        assert_eq!(
            e.to_json(),
            json!({"message": "busy", "retryable": true, "retry_after_ms": 2000, "error_class": "Busy"})
        );
        assert_eq!(StepError::permanent("no").to_json()["retryable"], json!(false));
    }
}
