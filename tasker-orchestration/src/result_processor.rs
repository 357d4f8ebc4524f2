//! The result processor service: takes worker result messages in batches and, per batch, in ONE transaction
//! of two statements (take, then settle):
//! 1. takes (deletes) the messages and locks the affected tasks (in `task_uuid` order, so concurrent
//!    orchestrators never deadlock), loading each reported step (`sql/take_result_batch.sql`); the processor
//!    then decides each outcome: complete, retry after backoff, or fail;
//! 2. settles the batch (`tasker_shared::settle`, the statement a worker also runs for the steps it completes itself): applies the outcomes, enqueues newly ready steps and
//!    sends their messages (and the retries' delayed ones), finalizes tasks that can no longer progress and
//!    notifies the queues and finalizations (delivered at commit). It runs after the task locks are held, so
//!    its snapshot sees every earlier orchestrator's commit on those tasks.
//!
//! If the transaction fails or the process dies, nothing of the batch happened: the deletion of its messages
//! rolls back and they are visible again at once. A result message whose step is no longer
//! `enqueued_for_orchestration` (a duplicate) is consumed without effect; a body whose uuids are not uuids fails
//! the take, and is dropped before taking again (`tasker_shared::messaging::drop_malformed`).

use crate::dynamic_steps::{DynamicOutcome, DynamicSteps};
use crate::error::Result;
use crate::step_outcome::ReportedStep;
use sqlx::{FromRow, PgConnection, PgPool};
use std::collections::BTreeSet;
use std::sync::LazyLock;
use std::time::Duration;
use tasker_shared::config::{DispatchMode, ExecutionConfig, TaskerConfig};
use tasker_shared::messaging::{drop_malformed, is_malformed_body, queue_table, Wakeup, RESULTS_QUEUE};
use tasker_shared::settle::{log_failed_tasks, settle, Outcomes, SettleScope};
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
    /// Step defaults and the limits of dynamic steps (for the steps decisions and batches create).
    pub execution: ExecutionConfig,
    /// Seconds per priority level in the step queues (`SchedulingConfig::priority_step_seconds`).
    pub priority_step: f64,
}

impl From<&TaskerConfig> for ResultProcessorConfig {
    fn from(c: &TaskerConfig) -> Self {
        Self {
            batch_size: c.orchestration.batch_size,
            poll_interval: Duration::from_millis(c.orchestration.poll_interval_ms),
            dispatch_mode: c.orchestration.dispatch_mode,
            durable_commits: c.database.synchronous_step_commits,
            queue_vacuum_interval: Duration::from_millis(c.orchestration.queue_vacuum_interval_ms),
            execution: c.execution.clone(),
            priority_step: c.scheduling.priority_step_seconds(),
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
    /// Queues that received messages (the settle statement announced them).
    pub queues_sent: Vec<String>,
    /// The finalized tasks (announced on `tasker_task_finalized` by the settle statement).
    pub finalized_tasks: Vec<Uuid>,
}

/// One taken result message (a row of `take_result_batch.sql`).
#[derive(FromRow)]
struct TakenMessage {
    step_uuid: Option<Uuid>,
    task_uuid: Option<Uuid>,
    task_state: Option<String>,
    queues: Option<Vec<String>>,
    /// The task's concurrency gate, when its template limits how many run at once.
    concurrency_gate: Option<String>,
    reported: bool,
    attempts: Option<i32>,
    max_attempts: Option<i32>,
    backoff_base_ms: Option<i32>,
    backoff_max_ms: Option<i32>,
    error: Option<serde_json::Value>,
    kind: Option<String>,
    results: Option<serde_json::Value>,
}

impl TakenMessage {
    fn reported_step(&self) -> Option<ReportedStep> {
        if !self.reported {
            return None;
        }
        Some(ReportedStep {
            step_uuid: self.step_uuid?,
            attempts: self.attempts?,
            max_attempts: self.max_attempts?,
            backoff_base_ms: self.backoff_base_ms?,
            backoff_max_ms: self.backoff_max_ms?,
            error: self.error.clone(),
        })
    }
}

/// Applies worker results.
#[derive(Clone)]
pub struct ResultProcessor {
    pool: PgPool,
    config: ResultProcessorConfig,
    events: Option<crate::events::EventHub>,
    dynamic: DynamicSteps,
}

impl ResultProcessor {
    /// A processor over `pool`.
    pub fn new(pool: PgPool, config: ResultProcessorConfig) -> Self {
        let dynamic = DynamicSteps::new(config.execution.clone());
        Self { pool, config, events: None, dynamic }
    }

    /// Kick `events`' sequencer after every batch that applied something.
    pub fn with_events(mut self, events: crate::events::EventHub) -> Self {
        self.events = Some(events);
        self
    }

    /// Process up to `batch_size` result messages in one transaction.
    pub async fn process_batch(&self) -> Result<BatchSummary> {
        let mut tx = tasker_shared::db::begin_step_transaction(&self.pool, self.config.durable_commits).await?;
        let taken = match self.take(&mut tx).await {
            Err(err) if is_malformed_body(&err) => {
                tx.rollback().await?;
                if drop_malformed(&self.pool, RESULTS_QUEUE, &["step_uuid", "task_uuid"]).await? == 0 {
                    return Err(err.into());
                }
                tx = tasker_shared::db::begin_step_transaction(&self.pool, self.config.durable_commits).await?;
                self.take(&mut tx).await?
            }
            taken => taken?,
        };
        if taken.is_empty() {
            tx.commit().await?;
            return Ok(BatchSummary::default());
        }
        let mut live: Vec<Uuid> = taken
            .iter()
            .filter(|m| m.task_state.as_deref() == Some(TaskState::StepsInProcess.as_str()))
            .filter_map(|m| m.task_uuid)
            .collect();
        live.sort_unstable();
        live.dedup();
        let queues: Vec<String> = taken
            .iter()
            .flat_map(|m| m.queues.iter().flatten().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();

        // Decide here; the settle statement applies only what is still awaiting orchestration.
        let mut decided_uuids = Vec::new();
        let mut decided_states = Vec::new();
        let mut decided_at = Vec::new();
        let mut decided_attempts = Vec::new();
        let mut dynamic = Vec::new();
        for message in &taken {
            let Some(step) = message.reported_step() else { continue };
            let (state, at) = step.decide();
            let live = message.task_state.as_deref() == Some(TaskState::StepsInProcess.as_str());
            let asks = live && matches!(message.kind.as_deref(), Some("decision" | "batchable"));
            if state == StepState::Complete && asks {
                let task_uuid = message.task_uuid.unwrap_or_default();
                dynamic.push(DynamicOutcome { step_uuid: step.step_uuid, task_uuid, results: message.results.clone() });
            }
            decided_uuids.push(step.step_uuid);
            decided_states.push(state.as_str());
            decided_at.push(at);
            decided_attempts.push(step.attempts);
        }
        // What completed decisions and batches create, in this transaction; an invalid outcome fails its step.
        if !dynamic.is_empty() {
            let refused = self.dynamic.apply(&mut tx, &dynamic).await?;
            for (i, uuid) in decided_uuids.iter().enumerate() {
                if refused.contains(uuid) {
                    decided_states[i] = StepState::Error.as_str();
                    decided_at[i] = None;
                }
            }
        }
        let outcomes = Outcomes {
            step_uuids: decided_uuids,
            states: decided_states,
            next_attempt_at: decided_at,
            attempts: decided_attempts,
            ..Default::default()
        };
        let scope = SettleScope {
            live_tasks: &live,
            queues: &queues,
            priority_step: self.config.priority_step,
            durable_finalization: false,
        };
        let settled = settle(&mut tx, &outcomes, scope).await?;
        // A finalized task of a gate frees its slot: admit its gate's waiters before the slot is seen free.
        let finalized: BTreeSet<Uuid> = settled.finalized.iter().map(|f| f.task_uuid).collect();
        let gates: Vec<String> = taken
            .iter()
            .filter(|m| m.task_uuid.is_some_and(|t| finalized.contains(&t)))
            .filter_map(|m| m.concurrency_gate.clone())
            .collect();
        if !gates.is_empty() {
            crate::concurrency::admit(&mut tx, &gates, self.config.priority_step).await?;
        }
        tx.commit().await?;

        log_failed_tasks(&self.pool, &settled.finalized).await;
        Ok(BatchSummary {
            messages: taken.len(),
            applied: settled.applied.len(),
            enqueued: settled.enqueued,
            finalized: settled.finalized.len(),
            queues_sent: settled.queues_sent.into_iter().collect(),
            finalized_tasks: settled.finalized.iter().map(|f| f.task_uuid).collect(),
        })
    }

    /// Take (delete) up to `batch_size` result messages and lock their tasks (`sql/take_result_batch.sql`).
    async fn take(&self, conn: &mut PgConnection) -> sqlx::Result<Vec<TakenMessage>> {
        static TAKE_SQL: LazyLock<String> = LazyLock::new(|| {
            include_str!("sql/take_result_batch.sql").replace("{results_table}", &queue_table(RESULTS_QUEUE))
        });
        sqlx::query_as(&TAKE_SQL).bind(self.config.batch_size as i32).fetch_all(conn).await
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
        let upkeep = (!self.config.queue_vacuum_interval.is_zero()).then(|| {
            let interval = self.config.queue_vacuum_interval;
            let events = self.events.clone();
            let kick = move || {
                if let Some(events) = &events {
                    events.kick();
                }
            };
            tokio::spawn(crate::queue_vacuum::run(self.pool.clone(), interval, shutdown.clone(), kick))
        });
        let mut failures: u32 = 0;
        while !shutdown.is_cancelled() {
            match self.process_batch().await {
                Ok(summary) => {
                    failures = 0;
                    if summary.messages > 0 {
                        if let Some(events) = &self.events {
                            events.kick();
                        }
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

/// Settle `tasks` (their steps going to `queues`, locked by the caller's transaction) with no
/// outcome to apply: enqueue their ready steps and finalize those that can no longer progress, exactly as a
/// result batch would. Operator actions call it after changing a step by hand. Returns how many steps were
/// enqueued and the finalized state, if the task was finalized.
pub(crate) async fn settle_tasks(
    conn: &mut PgConnection,
    tasks: &[Uuid],
    queues: &[String],
    priority_step: f64,
) -> sqlx::Result<(usize, Option<String>)> {
    let scope = SettleScope { live_tasks: tasks, queues, priority_step, durable_finalization: false };
    let settled = settle(conn, &Outcomes::default(), scope).await?;
    let enqueued = settled.enqueued;
    let finalized = settled.finalized.into_iter().next().map(|f| f.state);
    Ok((enqueued, finalized))
}
