//! Settling steps (`settle_steps.sql`): applying outcomes, enqueueing the steps that became ready and finalizing
//! the tasks that can no longer progress, in one statement. The orchestration's result processor settles the
//! outcomes it decided (and operator actions settle with none); a worker settles the successful outcomes of the
//! `standard` steps it ran itself. Both run the same statement, under the same task locks, so the lifecycle rules
//! live in one place.

use crate::messaging::{delete_ctes, notify_channel, send_ctes, worker_queue, TASK_FINALIZED_CHANNEL};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgConnection, PgPool};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Outcomes to apply: decided by the result processor (steps `enqueued_for_orchestration`), or completions a
/// worker applies itself (steps `in_progress` under its claim; `claim_tokens` etc. set).
#[derive(Debug, Default)]
pub struct Outcomes {
    /// The steps.
    pub step_uuids: Vec<Uuid>,
    /// Each step's new state: `complete`, `waiting_for_retry` or `error`.
    pub states: Vec<&'static str>,
    /// A retry's next attempt.
    pub next_attempt_at: Vec<Option<DateTime<Utc>>>,
    /// The result processor's outcomes only (empty otherwise): the attempt each was decided for. It read the step
    /// in a snapshot taken before it waited for the task's lock, so an outcome is applied only while the step is
    /// still at that attempt (a duplicate message must not apply an older attempt's outcome to a newer one).
    pub attempts: Vec<i32>,
    /// A worker's outcomes only (empty otherwise): the claim each ran under,
    pub claim_tokens: Vec<Uuid>,
    /// its result,
    pub results: Vec<Value>,
    /// its step message,
    pub msg_ids: Vec<i64>,
    /// and the index (into `source_queues`) of the queue that message is in.
    pub queue_ix: Vec<i32>,
    /// The step queues the messages came from (pgmq queue name → index).
    pub source_queues: BTreeMap<String, i32>,
}

/// Where and how to settle.
#[derive(Debug, Clone, Copy)]
pub struct SettleScope<'a> {
    /// The live tasks (`steps_in_process`) to enqueue and finalize, locked by the caller's transaction.
    pub live_tasks: &'a [Uuid],
    /// Every queue the steps of those tasks go to (sorted, distinct).
    pub queues: &'a [String],
    /// Seconds per priority level (`SchedulingConfig::priority_step_seconds`).
    pub priority_step: f64,
    /// Commit durably when a task is finalized (for a transaction that otherwise commits asynchronously).
    pub durable_finalization: bool,
}

/// A finalized task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finalized {
    /// The task.
    pub task_uuid: Uuid,
    /// `complete` or `error`.
    pub state: String,
    /// Its namespace.
    pub namespace: String,
}

/// What a settle statement did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Settled {
    /// The outcomes applied (step, new state); an outcome no longer applicable is missing.
    pub applied: Vec<(Uuid, String)>,
    /// Steps newly enqueued.
    pub enqueued: usize,
    /// The worker queues that received messages (enqueued steps and retries).
    pub queues_sent: BTreeSet<String>,
    /// The tasks finalized.
    pub finalized: Vec<Finalized>,
}

/// A row of `settle_steps.sql`: an `applied` step, a `sent` step message or a `finalized` task.
#[derive(FromRow)]
struct SettledRow {
    kind: String,
    id: Uuid,
    state: String,
    /// The queue of a `sent` row, the namespace of a `finalized` one.
    name: Option<String>,
}

/// Settle `outcomes` and the `scope`'s tasks on `conn`, whose transaction holds those tasks' row locks. Records
/// the results and finalization metrics; the caller commits.
pub async fn settle(conn: &mut PgConnection, outcomes: &Outcomes, scope: SettleScope<'_>) -> sqlx::Result<Settled> {
    let rows: Vec<SettledRow> = sqlx::query_as(&settle_sql(scope.queues, &outcomes.source_queues))
        .bind(&outcomes.step_uuids)
        .bind(&outcomes.states)
        .bind(&outcomes.next_attempt_at)
        .bind(scope.live_tasks)
        .bind(scope.queues)
        .bind(scope.queues.iter().map(|q| notify_channel(&worker_queue(q))).collect::<Vec<_>>())
        .bind(scope.priority_step)
        .bind(&outcomes.claim_tokens)
        .bind(&outcomes.results)
        .bind(&outcomes.msg_ids)
        .bind(&outcomes.queue_ix)
        .bind(scope.durable_finalization)
        .bind(&outcomes.attempts)
        .fetch_all(conn)
        .await?;
    let mut settled = Settled::default();
    for row in rows {
        match row.kind.as_str() {
            "applied" => {
                metrics::counter!("tasker_step_results_total", "outcome" => row.state.clone()).increment(1);
                settled.applied.push((row.id, row.state));
            }
            "sent" => {
                settled.enqueued += usize::from(row.state == "enqueued");
                settled.queues_sent.extend(row.name.as_deref().map(worker_queue));
            }
            _ => {
                let namespace = row.name.unwrap_or_default();
                metrics::counter!("tasker_tasks_finalized_total", "namespace" => namespace.clone(),
                                  "state" => row.state.clone())
                .increment(1);
                settled.finalized.push(Finalized { task_uuid: row.id, state: row.state, namespace });
            }
        }
    }
    metrics::counter!("tasker_steps_enqueued_total").increment(settled.enqueued as u64);
    Ok(settled)
}

/// The settle statement for tasks whose steps go to `queues` (sorted) and a worker's messages from
/// `source_queues`: one message-sending CTE per queue and one message-deleting CTE per source, so settling stays
/// one statement and a given set of queues one prepared statement.
fn settle_sql(queues: &[String], source_queues: &BTreeMap<String, i32>) -> String {
    let sends = send_ctes(queues, "routed", 5);
    let deletes = delete_ctes(source_queues.iter().map(|(q, ix)| (q.as_str(), *ix)), "applied");
    include_str!("settle_steps.sql")
        .replace("{sends}", &sends)
        .replace("{deletes}", &deletes)
        .replace("{finalized_channel}", TASK_FINALIZED_CHANNEL)
}

/// A failed step of a task that just failed (a row of `failed_steps.sql`).
#[derive(FromRow)]
struct FailedStep {
    task_uuid: Uuid,
    namespace: String,
    template: String,
    step: String,
    attempts: i32,
    error: Option<String>,
}

/// Log each task of `finalized` that failed, with its failed steps (one warning per step): the account of what
/// went wrong, beside the dead-letter queue. Reading them is best effort, after the settle committed.
pub async fn log_failed_tasks(pool: &PgPool, finalized: &[Finalized]) {
    let tasks: Vec<Uuid> = finalized.iter().filter(|f| f.state == "error").map(|f| f.task_uuid).collect();
    if tasks.is_empty() {
        return;
    }
    let rows: sqlx::Result<Vec<FailedStep>> =
        sqlx::query_as(include_str!("failed_steps.sql")).bind(&tasks).fetch_all(pool).await;
    match rows {
        Ok(rows) => {
            for s in rows {
                let error = s.error.as_deref().unwrap_or("");
                tracing::warn!(task_uuid = %s.task_uuid, namespace = %s.namespace, template = %s.template,
                               step = %s.step, attempts = s.attempts, error, "task failed");
            }
        }
        Err(e) => tracing::warn!(error = %e, tasks = tasks.len(), "tasks failed (their steps could not be read)"),
    }
}
