//! The FFI event bridge: lets handlers live in a host language (Ruby, Python) while Rust keeps claiming,
//! leases, heartbeats, timeouts, persistence and reporting.
//!
//! Each host handler name is registered with a [`BridgeHandler`]. When a step for it runs, the handler turns
//! the step into a [`StepEvent`] on a bounded channel and waits for its outcome. The host's loop takes events
//! with [`FfiBridge::next_event`] (a blocking wait with a timeout, so the host can release its interpreter
//! lock and still see signals), runs the handler, and hands back the outcome as JSON with
//! [`FfiBridge::complete_json`]. An event the host never completes is failed by the step timeout (retryable);
//! its late completion is ignored.

use crate::handler::{StepContext, StepError, StepErrorKind, StepHandler};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A step handed to the host language.
#[derive(Debug, Clone, Serialize)]
pub struct StepEvent {
    /// Pass this back to [`FfiBridge::complete_json`].
    pub event_id: u64,
    /// The handler name the step was routed by.
    pub handler: String,
    /// The task.
    pub task_uuid: Uuid,
    /// The step.
    pub step_uuid: Uuid,
    /// Step name from the template.
    pub step_name: String,
    /// This attempt's number (1 for the first run).
    pub attempt: i32,
    /// Attempts allowed in all.
    pub max_attempts: i32,
    /// The task's input context.
    pub task_context: Value,
    /// Results of the direct dependencies, by step name.
    pub dependency_results: serde_json::Map<String, Value>,
    /// Results of the steps further upstream, by step name.
    pub upstream_results: serde_json::Map<String, Value>,
    /// The step's `config` from the template.
    pub step_config: Value,
    /// How long the handler may run before the step fails with a timeout.
    pub timeout_ms: u64,
    /// The last checkpoint an earlier attempt saved, if any.
    pub checkpoint: Option<Value>,
    /// A batch worker instance's work item (with its 1-based `index`); `None` for other steps.
    pub batch: Option<Value>,
}

/// What the host hands back, as JSON: `{"success": true, "result": …}` or
/// `{"success": false, "error": {"message", "retryable", "retry_after_ms", "error_class", "backtrace"}}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostOutcome {
    /// Whether the handler succeeded.
    pub success: bool,
    /// The result on success.
    #[serde(default)]
    pub result: Value,
    /// The error on failure.
    #[serde(default)]
    pub error: Option<HostError>,
}

/// A host-language error.
#[derive(Debug, Clone, Deserialize)]
pub struct HostError {
    /// The exception message.
    pub message: String,
    /// Retry while attempts remain (default true: an unexpected exception is worth retrying).
    #[serde(default = "yes")]
    pub retryable: bool,
    /// Retry no sooner than this.
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
    /// The exception class.
    #[serde(default)]
    pub error_class: Option<String>,
    /// The backtrace, one frame per line.
    #[serde(default)]
    pub backtrace: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

impl From<HostOutcome> for Result<Value, StepError> {
    fn from(o: HostOutcome) -> Self {
        if o.success {
            return Ok(o.result);
        }
        let e = o.error.unwrap_or(HostError {
            message: "handler failed without an error".into(),
            retryable: true,
            retry_after_ms: None,
            error_class: None,
            backtrace: None,
        });
        Err(StepError {
            kind: if e.retryable { StepErrorKind::Retryable } else { StepErrorKind::Permanent },
            message: e.message,
            retry_after: e.retry_after_ms.map(Duration::from_millis),
            error_class: e.error_class,
            backtrace: e.backtrace,
        })
    }
}

/// An event still awaited: who waits for its outcome, the step's cancellation token and its checkpoint saver.
struct Waiting {
    reply: oneshot::Sender<Result<Value, StepError>>,
    cancelled: CancellationToken,
    checkpointer: Option<crate::checkpoint::Checkpointer>,
}

/// Each event still awaited.
type Pending = Mutex<HashMap<u64, Waiting>>;

/// The channel between the worker and the host language.
pub struct FfiBridge {
    sender: mpsc::Sender<StepEvent>,
    receiver: tokio::sync::Mutex<mpsc::Receiver<StepEvent>>,
    pending: Pending,
    next_id: AtomicU64,
    /// Cancelled once the worker has stopped: host threads waiting for an event return at once instead of at
    /// their next timeout, so a host may wait in long slices without delaying its shutdown.
    closed: CancellationToken,
}

impl FfiBridge {
    /// A bridge holding at most `capacity` undelivered events.
    pub fn new(capacity: usize) -> Arc<Self> {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        Arc::new(Self {
            sender,
            receiver: tokio::sync::Mutex::new(receiver),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            closed: CancellationToken::new(),
        })
    }

    /// The handler to register under every host handler name.
    pub fn handler(self: &Arc<Self>) -> Arc<dyn StepHandler> {
        Arc::new(BridgeHandler(self.clone()))
    }

    /// The next event still awaited, or `None` after `timeout` or once the bridge is closed. Events whose step
    /// already timed out are skipped.
    pub async fn next_event(&self, timeout: Duration) -> Option<StepEvent> {
        let wait = async {
            let mut receiver = self.receiver.lock().await;
            loop {
                let event = receiver.recv().await?;
                if self.pending.lock().expect("bridge poisoned").contains_key(&event.event_id) {
                    return Some(event);
                }
            }
        };
        tokio::select! {
            event = tokio::time::timeout(timeout, wait) => event.ok()?,
            _ = self.closed.cancelled() => None,
        }
    }

    /// Wake every host thread waiting in [`FfiBridge::next_event`] and answer `None` from now on: the worker
    /// has stopped, and every event it handed out was completed or released.
    pub fn close(&self) {
        self.closed.cancel();
    }

    /// Complete an event. Returns false when nobody waits for it any more (timed out, or unknown).
    pub fn complete(&self, event_id: u64, outcome: Result<Value, StepError>) -> bool {
        let waiter = self.pending.lock().expect("bridge poisoned").remove(&event_id);
        waiter.is_some_and(|w| w.reply.send(outcome).is_ok())
    }

    /// Whether the host should stop working on event `event_id`: its step was cancelled (task cancelled by an
    /// operator, or claim lost), or nobody waits for its outcome any more (timed out, unknown).
    pub fn is_cancelled(&self, event_id: u64) -> bool {
        self.pending.lock().expect("bridge poisoned").get(&event_id).is_none_or(|w| w.cancelled.is_cancelled())
    }

    /// Save a checkpoint (JSON) for event `event_id`'s step (see [`crate::StepContext::save_checkpoint`]). The
    /// error names why it was not saved, and its kind says whether trying again can help: retryable when the
    /// database could not be reached (`CheckpointFailed`), permanent when the step is no longer awaited, its claim
    /// was lost, or the JSON is bad.
    pub async fn save_checkpoint(&self, event_id: u64, checkpoint_json: &str) -> Result<(), StepError> {
        let checkpoint: Value = serde_json::from_str(checkpoint_json).map_err(|e| {
            StepError::permanent(format!("the checkpoint is not JSON: {e}")).with_class("InvalidCheckpoint")
        })?;
        let saver = self.pending.lock().expect("bridge poisoned").get(&event_id).and_then(|w| w.checkpointer.clone());
        let saver = saver.ok_or_else(|| {
            StepError::permanent("the step is no longer this worker's: checkpoint rejected").with_class("ClaimLost")
        })?;
        saver.save(&checkpoint).await
    }

    /// Complete an event from the host's JSON outcome (see [`HostOutcome`]). An outcome that is not valid
    /// still completes its event, as a permanent `InvalidOutcome` error (the step is not left waiting for its
    /// timeout), and the error says why.
    pub fn complete_json(&self, event_id: u64, outcome: &str) -> Result<bool, String> {
        match serde_json::from_str::<HostOutcome>(outcome) {
            Ok(parsed) => Ok(self.complete(event_id, parsed.into())),
            Err(e) => {
                let message = format!("invalid outcome JSON: {e}");
                let error = StepError::permanent(format!("the handler's outcome could not be read: {message}"))
                    .with_class("InvalidOutcome");
                self.complete(event_id, Err(error));
                Err(message)
            }
        }
    }

    /// Events handed out and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.pending.lock().expect("bridge poisoned").len()
    }

    /// Events sent and not yet taken by the host (completed or timed-out ones included until skipped).
    pub fn queued(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }
}

/// A [`StepHandler`] that delegates to the host language through the bridge.
pub struct BridgeHandler(Arc<FfiBridge>);

/// Forgets a pending event when the step's wait ends for any reason (completion, timeout, shutdown).
struct PendingGuard<'a>(&'a FfiBridge, u64);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.pending.lock().expect("bridge poisoned").remove(&self.1);
    }
}

#[async_trait]
impl StepHandler for BridgeHandler {
    async fn call(&self, step: &StepContext) -> Result<Value, StepError> {
        let bridge = &self.0;
        let event_id = bridge.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let waiting = Waiting { reply: tx, cancelled: step.cancelled.clone(), checkpointer: step.checkpointer.clone() };
        bridge.pending.lock().expect("bridge poisoned").insert(event_id, waiting);
        let _guard = PendingGuard(bridge, event_id);
        let event = StepEvent {
            event_id,
            handler: step.handler.clone(),
            task_uuid: step.task_uuid,
            step_uuid: step.step_uuid,
            step_name: step.step_name.clone(),
            attempt: step.attempt,
            max_attempts: step.max_attempts,
            task_context: step.task_context.clone(),
            dependency_results: step.dependency_results.clone(),
            upstream_results: step.upstream_results.clone(),
            step_config: step.step_config.clone(),
            timeout_ms: step.timeout.as_millis() as u64,
            checkpoint: step.checkpoint.clone(),
            batch: step.batch_item.clone(),
        };
        if bridge.sender.send(event).await.is_err() {
            return Err(StepError::retryable("the host language bridge is closed").with_class("BridgeClosed"));
        }
        rx.await.unwrap_or_else(|_| Err(StepError::retryable("the host dropped the step").with_class("BridgeClosed")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> StepContext {
        StepContext {
            task_uuid: Uuid::nil(),
            step_uuid: Uuid::nil(),
            step_name: "s".into(),
            handler: "ns.h".into(),
            attempt: 1,
            max_attempts: 3,
            task_context: json!({"n": 2}),
            dependency_results: Default::default(),
            upstream_results: Default::default(),
            step_config: json!({}),
            timeout: Duration::from_secs(5),
            cancelled: Default::default(),
            checkpoint: None,
            checkpointer: None,
            batch_item: None,
        }
    }

    #[tokio::test]
    async fn an_event_round_trips_through_the_host() {
        let bridge = FfiBridge::new(4);
        let handler = bridge.handler();
        let call = tokio::spawn(async move { handler.call(&ctx()).await });
        let event = bridge.next_event(Duration::from_secs(1)).await.expect("event");
        assert_eq!((event.handler.as_str(), event.task_context["n"].as_i64()), ("ns.h", Some(2)));
        assert!(bridge.complete_json(event.event_id, r#"{"success": true, "result": {"v": 4}}"#).unwrap());
        assert_eq!(call.await.unwrap().unwrap(), json!({"v": 4}));
        assert_eq!(bridge.in_flight(), 0);
    }

    #[tokio::test]
    async fn host_errors_keep_class_backtrace_and_retry_hint() {
        let bridge = FfiBridge::new(4);
        let handler = bridge.handler();
        let call = tokio::spawn(async move { handler.call(&ctx()).await });
        let event = bridge.next_event(Duration::from_secs(1)).await.unwrap();
        let outcome = json!({"success": false, "error": {"message": "boom", "retryable": false,
            "error_class": "KeyError", "backtrace": ["a.py:1"], "retry_after_ms": 5}});
        bridge.complete_json(event.event_id, &outcome.to_string()).unwrap();
        let err = call.await.unwrap().unwrap_err();
        assert_eq!(err.kind, StepErrorKind::Permanent);
        assert_eq!(err.error_class.as_deref(), Some("KeyError"));
        assert_eq!(err.backtrace, Some(vec!["a.py:1".to_string()]));
        assert_eq!(err.retry_after, Some(Duration::from_millis(5)));
    }

    #[tokio::test]
    async fn an_outcome_the_bridge_cannot_read_fails_its_step_at_once() {
        let bridge = FfiBridge::new(4);
        let handler = bridge.handler();
        let call = tokio::spawn(async move { handler.call(&ctx()).await });
        let event = bridge.next_event(Duration::from_secs(1)).await.unwrap();
        let refused = bridge.complete_json(event.event_id, r#"{"success": true, "result": NaN}"#);
        assert!(refused.unwrap_err().contains("invalid outcome JSON"));
        let err = tokio::time::timeout(Duration::from_secs(1), call).await.expect("completed at once").unwrap();
        let err = err.unwrap_err();
        assert_eq!((err.kind, err.error_class.as_deref()), (StepErrorKind::Permanent, Some("InvalidOutcome")));
        assert_eq!(bridge.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_checkpoint_the_database_cannot_take_is_a_retryable_error_and_a_bad_one_permanent() {
        let bridge = FfiBridge::new(4);
        let handler = bridge.handler();
        // A pool whose server never answers (nothing listens on port 1): saving fails as the database would when down.
        let unreachable = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(200))
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .unwrap();
        let lease = crate::in_flight::InFlightStep {
            queue: "q".into(),
            msg_id: 1,
            step_uuid: Uuid::nil(),
            claim_token: Uuid::nil(),
        };
        let mut step = ctx();
        step.checkpointer = Some(crate::checkpoint::Checkpointer { pool: unreachable, lease, lease_seconds: 30 });
        let call = tokio::spawn(async move { handler.call(&step).await });
        let event = bridge.next_event(Duration::from_secs(1)).await.unwrap();
        let down = bridge.save_checkpoint(event.event_id, r#"{"done": 1}"#).await.unwrap_err();
        assert_eq!((down.kind, down.error_class.as_deref()), (StepErrorKind::Retryable, Some("CheckpointFailed")));
        let bad = bridge.save_checkpoint(event.event_id, "{not json").await.unwrap_err();
        assert_eq!(bad.kind, StepErrorKind::Permanent);
        bridge.complete_json(event.event_id, r#"{"success": true}"#).unwrap();
        call.await.unwrap().unwrap();
        let gone = bridge.save_checkpoint(event.event_id, r#"{"done": 2}"#).await.unwrap_err();
        assert_eq!((gone.kind, gone.error_class.as_deref()), (StepErrorKind::Permanent, Some("ClaimLost")));
    }

    #[tokio::test]
    async fn the_host_sees_a_cancelled_step_as_cancelled() {
        let bridge = FfiBridge::new(4);
        let handler = bridge.handler();
        let step = ctx();
        let token = step.cancelled.clone();
        let call = tokio::spawn(async move { handler.call(&step).await });
        let event = bridge.next_event(Duration::from_secs(1)).await.unwrap();
        assert!(!bridge.is_cancelled(event.event_id));
        token.cancel();
        assert!(bridge.is_cancelled(event.event_id));
        assert!(bridge.is_cancelled(event.event_id + 100), "an unknown event is not worth working on");
        bridge.complete_json(event.event_id, r#"{"success": true}"#).unwrap();
        call.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn late_completions_are_ignored_and_stale_events_skipped() {
        let bridge = FfiBridge::new(4);
        let handler = bridge.handler();
        // The step's wait ends (as at a timeout) before the host looks at the event.
        let waited = tokio::time::timeout(Duration::from_millis(20), handler.call(&ctx())).await;
        assert!(waited.is_err());
        assert!(bridge.next_event(Duration::from_millis(20)).await.is_none(), "stale event must be skipped");
        assert!(!bridge.complete_json(1, r#"{"success": true}"#).unwrap());
        assert!(bridge.complete_json(1, "not json").is_err());
    }

    #[tokio::test]
    async fn closing_wakes_every_waiting_host_thread() {
        let bridge = FfiBridge::new(4);
        // Three host threads wait in hour-long slices: one holds the receiver, two wait for it.
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let bridge = bridge.clone();
                tokio::spawn(async move { bridge.next_event(Duration::from_secs(3600)).await })
            })
            .collect();
        tokio::task::yield_now().await;
        bridge.close();
        for w in waiters {
            let event = tokio::time::timeout(Duration::from_secs(30), w).await.expect("woken by close").unwrap();
            assert!(event.is_none());
        }
        let after = tokio::time::timeout(Duration::from_secs(30), bridge.next_event(Duration::from_secs(3600))).await;
        assert!(after.expect("answers at once once closed").is_none());
    }
}
