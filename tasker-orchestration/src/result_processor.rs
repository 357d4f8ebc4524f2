//! The result processor service: takes worker result messages in batches and, per batch, in ONE transaction
//! of four statements (take, apply, enqueue, finalize):
//! 1. takes the messages and locks the affected tasks (in `task_uuid` order, so concurrent orchestrators never
//!    deadlock), loading each reported step (`sql/take_result_batch.sql`);
//! 2. applies each outcome: complete, retry after backoff via a delayed message, or fail
//!    (`sql/apply_outcomes.sql`);
//! 3. enqueues newly ready steps and sends their messages (`sql/enqueue_ready_steps.sql`);
//! 4. finalizes tasks that can no longer progress and deletes the result messages (`sql/finalize_tasks.sql`).
//!
//! If the transaction fails or the process dies, nothing of the batch happened and its messages are visible
//! again (they were locked, not hidden). A result message whose step is no longer `enqueued_for_orchestration`
//! (a duplicate) is deleted without effect.

use crate::error::Result;
use crate::queue_vacuum::QueueActivity;
use chrono::Utc;
use sqlx::{FromRow, PgPool};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;
use tasker_shared::backoff::retry_delay;
use tasker_shared::config::{DispatchMode, TaskerConfig};
use tasker_shared::messaging::{queue_table, send_delayed, worker_queue, Notifier, StepMessage, Wakeup, RESULTS_QUEUE};
use tasker_shared::states::{StepState, TaskState};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

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
    /// After activity, vacuum the queue tables at most this often (zero: never; see [`crate::queue_vacuum`]).
    pub queue_vacuum_interval: Duration,
}

impl From<&TaskerConfig> for ResultProcessorConfig {
    fn from(c: &TaskerConfig) -> Self {
        Self {
            batch_size: c.orchestration.batch_size,
            poll_interval: Duration::from_millis(c.orchestration.poll_interval_ms),
            dispatch_mode: c.orchestration.dispatch_mode,
            durable_commits: c.database.synchronous_step_commits,
            queue_vacuum_interval: Duration::from_millis(c.orchestration.queue_vacuum_interval_ms),
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

/// One taken result message (a row of `take_result_batch.sql`).
#[derive(FromRow)]
struct TakenMessage {
    msg_id: i64,
    step_uuid: Option<Uuid>,
    task_uuid: Option<Uuid>,
    task_state: Option<String>,
    namespace: Option<String>,
    reported: bool,
    attempts: Option<i32>,
    max_attempts: Option<i32>,
    backoff_base_ms: Option<i32>,
    backoff_max_ms: Option<i32>,
    error: Option<serde_json::Value>,
}

/// A step whose reported outcome awaits orchestration.
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

impl TakenMessage {
    fn reported_step(&self) -> Option<ReportedStep> {
        if !self.reported {
            return None;
        }
        Some(ReportedStep {
            step_uuid: self.step_uuid?,
            task_uuid: self.task_uuid?,
            namespace: self.namespace.clone()?,
            attempts: self.attempts?,
            max_attempts: self.max_attempts?,
            backoff_base_ms: self.backoff_base_ms?,
            backoff_max_ms: self.backoff_max_ms?,
            error: self.error.clone(),
        })
    }
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
        let results_table = queue_table(RESULTS_QUEUE);
        let mut tx = tasker_shared::db::begin_step_transaction(&self.pool, self.config.durable_commits).await?;
        let taken: Vec<TakenMessage> =
            sqlx::query_as(&include_str!("sql/take_result_batch.sql").replace("{results_table}", &results_table))
                .bind(self.config.batch_size as i32)
                .fetch_all(&mut *tx)
                .await?;
        if taken.is_empty() {
            tx.commit().await?;
            return Ok(BatchSummary::default());
        }
        let msg_ids: Vec<i64> = taken.iter().map(|m| m.msg_id).collect();
        let live_messages =
            taken.iter().filter(|m| m.task_state.as_deref() == Some(TaskState::StepsInProcess.as_str()));
        let mut live: Vec<Uuid> = live_messages.clone().filter_map(|m| m.task_uuid).collect();
        live.sort_unstable();
        live.dedup();
        let namespaces: BTreeSet<String> = live_messages.filter_map(|m| m.namespace.clone()).collect();

        // Decide, then apply; only what the guarded apply actually moved counts (and gets its retry message).
        let reported: HashMap<Uuid, ReportedStep> =
            taken.iter().filter_map(TakenMessage::reported_step).map(|r| (r.step_uuid, r)).collect();
        let decisions: HashMap<Uuid, (StepState, Option<chrono::DateTime<Utc>>)> =
            reported.values().map(|step| (step.step_uuid, step.decide())).collect();
        let decided_uuids: Vec<Uuid> = decisions.keys().copied().collect();
        let decided_states: Vec<&str> = decided_uuids.iter().map(|u| decisions[u].0.as_str()).collect();
        let decided_at: Vec<Option<chrono::DateTime<Utc>>> = decided_uuids.iter().map(|u| decisions[u].1).collect();
        let applied: Vec<(Uuid, String)> = if decided_uuids.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(include_str!("sql/apply_outcomes.sql"))
                .bind(&decided_uuids)
                .bind(&decided_states)
                .bind(&decided_at)
                .fetch_all(&mut *tx)
                .await?
        };
        let mut queues_sent = BTreeSet::new();
        for (step_uuid, state) in &applied {
            metrics::counter!("tasker_step_results_total", "outcome" => state.clone()).increment(1);
            let (Some(step), (_, Some(at))) = (reported.get(step_uuid), decisions[step_uuid]) else {
                continue;
            };
            let queue = worker_queue(&step.namespace);
            let msg = StepMessage { task_uuid: step.task_uuid, step_uuid: step.step_uuid };
            send_delayed(&mut tx, &queue, &msg, at).await?;
            queues_sent.insert(queue);
        }

        let ready: Vec<(Uuid, Uuid, String)> = if live.is_empty() {
            Vec::new()
        } else {
            let namespaces: Vec<String> = namespaces.into_iter().collect();
            sqlx::query_as(&ready_sql(&namespaces)).bind(&live).bind(&namespaces).fetch_all(&mut *tx).await?
        };
        queues_sent.extend(ready.iter().map(|(_, _, namespace)| worker_queue(namespace)));

        let finalized: Vec<(Uuid, String, String)> =
            sqlx::query_as(&include_str!("sql/finalize_tasks.sql").replace("{results_table}", &results_table))
                .bind(&live)
                .bind(&msg_ids)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;

        for (_, namespace, state) in &finalized {
            metrics::counter!("tasker_tasks_finalized_total", "namespace" => namespace.clone(), "state" => state.clone())
                .increment(1);
        }
        metrics::counter!("tasker_steps_enqueued_total").increment(ready.len() as u64);
        Ok(BatchSummary {
            messages: taken.len(),
            applied: applied.len(),
            enqueued: ready.len(),
            finalized: finalized.len(),
            queues_sent: queues_sent.into_iter().collect(),
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
        let activity = QueueActivity::default();
        let upkeep = (!self.config.queue_vacuum_interval.is_zero()).then(|| {
            let interval = self.config.queue_vacuum_interval;
            tokio::spawn(crate::queue_vacuum::run(self.pool.clone(), interval, activity.clone(), shutdown.clone()))
        });
        let mut failures: u32 = 0;
        while !shutdown.is_cancelled() {
            match self.process_batch().await {
                Ok(summary) => {
                    failures = 0;
                    activity.record(summary.messages);
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
        if let Some(upkeep) = upkeep {
            let _ = upkeep.await;
        }
        Ok(())
    }
}

/// The readiness statement for a batch whose live tasks span `namespaces` (sorted): one message-sending CTE per
/// namespace, so enqueueing stays one statement and a given set of namespaces one prepared statement.
fn ready_sql(namespaces: &[String]) -> String {
    let sends: String = namespaces
        .iter()
        .enumerate()
        .map(|(i, namespace)| {
            format!(
                ", sent_{i} AS (INSERT INTO {} (vt, message) SELECT clock_timestamp(), \
                 jsonb_build_object('task_uuid', task_uuid, 'step_uuid', step_uuid) FROM routed \
                 WHERE namespace = ($2::text[])[{}])",
                queue_table(&worker_queue(namespace)),
                i + 1
            )
        })
        .collect();
    include_str!("sql/enqueue_ready_steps.sql").replace("{sends}", &sends)
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
