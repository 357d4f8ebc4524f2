//! The result processor service: reads worker result messages in batches and, per batch, in ONE transaction
//! locks the affected tasks (in `task_uuid` order, so concurrent orchestrators never deadlock), applies each
//! outcome (complete, retry after backoff via a delayed message, or fail), enqueues newly ready steps,
//! finalizes tasks that can no longer progress and deletes the result messages.
//!
//! If the transaction fails or the process dies, nothing of the batch happened and its messages are visible
//! again (the read is part of the transaction). A result message whose step is no longer
//! `enqueued_for_orchestration` (a duplicate) is deleted without effect.

use crate::error::Result;
use chrono::Utc;
use sqlx::{FromRow, PgPool};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tasker_shared::backoff::retry_delay;
use tasker_shared::config::{DispatchMode, TaskerConfig};
use tasker_shared::messaging::{
    delete_batch, read_batch, send_batch, send_delayed, worker_queue, Notifier, ResultMessage, StepMessage, Wakeup,
    RESULTS_QUEUE,
};
use tasker_shared::states::{StepState, TaskState};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long a read result message stays hidden; the read commits with its batch, so this only matters if a
/// transaction hangs.
const RESULT_VISIBILITY_SECONDS: i32 = 30;

/// Settings of the result processor.
#[derive(Debug, Clone)]
pub struct ResultProcessorConfig {
    /// Most result messages per transaction.
    pub batch_size: u32,
    /// Fallback poll interval.
    pub poll_interval: Duration,
    /// Event-driven, polling or hybrid.
    pub dispatch_mode: DispatchMode,
    /// Wait for the WAL flush at commit (see `DatabaseConfig::synchronous_step_commits`).
    pub durable_commits: bool,
}

impl From<&TaskerConfig> for ResultProcessorConfig {
    fn from(c: &TaskerConfig) -> Self {
        Self {
            batch_size: c.orchestration.batch_size,
            poll_interval: Duration::from_millis(c.orchestration.poll_interval_ms),
            dispatch_mode: c.orchestration.dispatch_mode,
            durable_commits: c.database.synchronous_step_commits,
        }
    }
}

/// What one batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchSummary {
    /// Result messages read.
    pub messages: usize,
    /// Outcomes applied (duplicates excluded).
    pub applied: usize,
    /// Steps newly enqueued.
    pub enqueued: usize,
    /// Tasks finalized.
    pub finalized: usize,
    /// Queues that received messages (to announce after commit).
    pub queues_sent: Vec<String>,
    /// The finalized tasks (to announce after commit).
    pub finalized_tasks: Vec<Uuid>,
}

#[derive(FromRow)]
struct ReportedStep {
    step_uuid: Uuid,
    task_uuid: Uuid,
    namespace: String,
    attempts: i32,
    max_attempts: i32,
    backoff_base_ms: i32,
    backoff_max_ms: i32,
    error: Option<serde_json::Value>,
}

impl ReportedStep {
    /// Next state and, for a retry, when the retry message becomes visible.
    fn decide(&self) -> (StepState, Option<chrono::DateTime<Utc>>) {
        let Some(error) = &self.error else {
            return (StepState::Complete, None);
        };
        let retryable = error.get("retryable").and_then(|v| v.as_bool()).unwrap_or(false);
        if !retryable || self.attempts >= self.max_attempts {
            return (StepState::Error, None);
        }
        let explicit = error.get("retry_after_ms").and_then(|v| v.as_u64()).map(Duration::from_millis);
        let delay = retry_delay(self.attempts, self.backoff_base_ms as u64, self.backoff_max_ms as u64, explicit);
        let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_else(|_| chrono::Duration::zero());
        (StepState::WaitingForRetry, Some(at))
    }
}

/// Applies worker results.
#[derive(Clone)]
pub struct ResultProcessor {
    pool: PgPool,
    config: ResultProcessorConfig,
    notifier: Notifier,
}

impl ResultProcessor {
    /// A processor over `pool`; `notifier` announces what each batch sent, after its commit.
    pub fn new(pool: PgPool, config: ResultProcessorConfig, notifier: Notifier) -> Self {
        Self { pool, config, notifier }
    }

    /// Process up to `batch_size` result messages in one transaction.
    pub async fn process_batch(&self) -> Result<BatchSummary> {
        let mut tx = tasker_shared::db::begin_step_transaction(&self.pool, self.config.durable_commits).await?;
        let messages = read_batch::<ResultMessage>(
            &mut tx,
            RESULTS_QUEUE,
            RESULT_VISIBILITY_SECONDS,
            self.config.batch_size as i32,
        )
        .await?;
        if messages.is_empty() {
            tx.commit().await?;
            return Ok(BatchSummary::default());
        }
        let msg_ids: Vec<i64> = messages.iter().map(|m| m.msg_id).collect();
        let bodies: Vec<ResultMessage> = messages.iter().filter_map(|m| m.body).collect();
        let step_uuids: Vec<Uuid> = bodies.iter().map(|b| b.step_uuid).collect();
        let mut task_uuids: Vec<Uuid> = bodies.iter().map(|b| b.task_uuid).collect();
        task_uuids.sort_unstable();
        task_uuids.dedup();

        // Fixed lock order: concurrent orchestrators queue behind each other instead of deadlocking.
        let locked: Vec<(Uuid, String, String)> = sqlx::query_as(
            "SELECT task_uuid, state, namespace FROM tasker.tasks WHERE task_uuid = ANY($1)
             ORDER BY task_uuid FOR UPDATE",
        )
        .bind(&task_uuids)
        .fetch_all(&mut *tx)
        .await?;
        let namespaces: HashMap<Uuid, String> = locked.iter().map(|(t, _, ns)| (*t, ns.clone())).collect();
        let live: Vec<Uuid> = locked
            .iter()
            .filter(|(_, state, _)| state == TaskState::StepsInProcess.as_str())
            .map(|(t, _, _)| *t)
            .collect();

        let reported: Vec<ReportedStep> =
            sqlx::query_as(include_str!("sql/load_reported_steps.sql")).bind(&step_uuids).fetch_all(&mut *tx).await?;
        let mut decided_uuids = Vec::with_capacity(reported.len());
        let mut decided_states = Vec::with_capacity(reported.len());
        let mut decided_at = Vec::with_capacity(reported.len());
        let mut retry_queues = std::collections::BTreeSet::new();
        for step in &reported {
            let (state, at) = step.decide();
            metrics::counter!("tasker_step_results_total", "outcome" => state.as_str()).increment(1);
            decided_uuids.push(step.step_uuid);
            decided_states.push(state.as_str().to_string());
            decided_at.push(at);
            if let Some(at) = at {
                let msg = StepMessage { task_uuid: step.task_uuid, step_uuid: step.step_uuid };
                let queue = worker_queue(&step.namespace);
                send_delayed(&mut tx, &queue, &msg, at).await?;
                retry_queues.insert(queue);
            }
        }
        if !decided_uuids.is_empty() {
            sqlx::query(include_str!("sql/apply_outcomes.sql"))
                .bind(&decided_uuids)
                .bind(&decided_states)
                .bind(&decided_at)
                .execute(&mut *tx)
                .await?;
        }

        let ready: Vec<(Uuid, Uuid)> = if live.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(include_str!("sql/enqueue_ready_steps.sql")).bind(&live).fetch_all(&mut *tx).await?
        };
        let mut by_queue: BTreeMap<String, Vec<StepMessage>> = BTreeMap::new();
        for (step_uuid, task_uuid) in &ready {
            let queue = worker_queue(&namespaces[task_uuid]);
            by_queue.entry(queue).or_default().push(StepMessage { task_uuid: *task_uuid, step_uuid: *step_uuid });
        }
        for (queue, batch) in &by_queue {
            send_batch(&mut tx, queue, batch).await?;
        }

        let finalized: Vec<(Uuid, String, String)> = if live.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(include_str!("sql/finalize_tasks.sql")).bind(&live).fetch_all(&mut *tx).await?
        };
        delete_batch(&mut tx, RESULTS_QUEUE, &msg_ids).await?;
        tx.commit().await?;

        for (_, namespace, state) in &finalized {
            metrics::counter!("tasker_tasks_finalized_total", "namespace" => namespace.clone(), "state" => state.clone())
                .increment(1);
        }
        metrics::counter!("tasker_steps_enqueued_total").increment(ready.len() as u64);
        retry_queues.extend(by_queue.into_keys());
        Ok(BatchSummary {
            messages: messages.len(),
            applied: reported.len(),
            enqueued: ready.len(),
            finalized: finalized.len(),
            queues_sent: retry_queues.into_iter().collect(),
            finalized_tasks: finalized.iter().map(|(t, _, _)| *t).collect(),
        })
    }

    /// Process batches until `shutdown`: back-to-back while batches come back full, otherwise waiting for a
    /// notification or the fallback poll.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let wakeup = Wakeup::start(
            &self.pool,
            RESULTS_QUEUE,
            self.config.dispatch_mode,
            self.config.poll_interval,
            shutdown.clone(),
        )
        .await?;
        let mut failures: u32 = 0;
        while !shutdown.is_cancelled() {
            match self.process_batch().await {
                Ok(summary) => {
                    failures = 0;
                    for queue in &summary.queues_sent {
                        self.notifier.queue(queue);
                    }
                    for task_uuid in &summary.finalized_tasks {
                        self.notifier.task_finalized(*task_uuid);
                    }
                    if summary.messages >= self.config.batch_size as usize {
                        continue;
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let pause = Duration::from_millis((50u64 << failures.min(6)).min(5_000));
                    tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "result batch failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(pause) => continue,
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = wakeup.wait() => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(attempts: i32, max: i32, error: Option<serde_json::Value>) -> ReportedStep {
        ReportedStep {
            step_uuid: Uuid::nil(),
            task_uuid: Uuid::nil(),
            namespace: "ns".into(),
            attempts,
            max_attempts: max,
            backoff_base_ms: 100,
            backoff_max_ms: 1000,
            error,
        }
    }

    #[test]
    fn success_completes() {
        assert_eq!(step(1, 3, None).decide().0, StepState::Complete);
    }

    #[test]
    fn retryable_error_retries_until_attempts_run_out() {
        let e = serde_json::json!({"message": "flaky", "retryable": true});
        let (state, at) = step(1, 3, Some(e.clone())).decide();
        assert_eq!(state, StepState::WaitingForRetry);
        assert!(at.unwrap() > Utc::now());
        assert_eq!(step(3, 3, Some(e)).decide().0, StepState::Error);
    }

    #[test]
    fn permanent_error_fails_at_once() {
        let e = serde_json::json!({"message": "no", "retryable": false});
        assert_eq!(step(1, 5, Some(e)).decide().0, StepState::Error);
    }

    #[test]
    fn retry_after_is_honoured() {
        let e = serde_json::json!({"message": "later", "retryable": true, "retry_after_ms": 60_000});
        let (_, at) = step(1, 3, Some(e)).decide();
        let wait = at.unwrap() - Utc::now();
        assert!(wait > chrono::Duration::seconds(55), "{wait}");
    }
}
