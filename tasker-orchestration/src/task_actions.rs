//! What an operator can do to a task: cancel it, retry its failed steps, or resolve one step by hand.
//!
//! Each action is one transaction: lock the task row (`sql/lock_task.sql`, the lock the result processor takes
//! before it settles a task, so the two never interleave on a task), check its state (404 / 409), then one
//! guarded statement that moves the task and its steps with their audit rows and sends or deletes their
//! messages. A second operator, a racing worker or a racing orchestrator finds the rows already moved: the
//! action is applied once or answered with a conflict, never applied twice.

use crate::concurrency;
use crate::error::{OrchestrationError, Result};
use crate::result_processor::settle_tasks;
use crate::task_query::{self, TaskView};
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use tasker_shared::messaging::{notify_channel, queue_table, send_ctes, worker_queue, TASK_FINALIZED_CHANNEL};
use tasker_shared::states::TaskState;
use uuid::Uuid;

/// The audit reasons recorded when the operator gives none.
pub const DEFAULT_CANCEL_REASON: &str = "cancelled by operator";
/// See [`DEFAULT_CANCEL_REASON`].
pub const DEFAULT_RETRY_REASON: &str = "retried by operator";
/// See [`DEFAULT_CANCEL_REASON`].
pub const DEFAULT_RESOLVE_REASON: &str = "resolved by operator";

/// How many times an action is tried when PostgreSQL breaks a deadlock with it (a worker's report batch can
/// lock two steps of the task in another order).
const ATTEMPTS: usize = 3;

/// Cancel a scheduled, queued, running or failed task: it and every unfinished step become `cancelled`. A running
/// task of a template with concurrency limits frees its slot: the gate's next waiter starts in the same
/// transaction.
pub async fn cancel_task(
    pool: &PgPool,
    task_uuid: Uuid,
    reason: Option<String>,
    priority_step: f64,
) -> Result<TaskView> {
    let reason = reason.unwrap_or_else(|| DEFAULT_CANCEL_REASON.into());
    in_transaction(pool, |tx| {
        let reason = reason.clone();
        Box::pin(async move {
            let task = lock_task(tx, task_uuid).await?;
            if !matches!(
                task.state,
                TaskState::Scheduled | TaskState::Queued | TaskState::StepsInProcess | TaskState::Error
            ) {
                return Err(conflict(task_uuid, task.state, "cancelled"));
            }
            sqlx::query(include_str!("sql/lock_unfinished_steps.sql")).bind(task_uuid).execute(&mut **tx).await?;
            let dropped: Vec<String> =
                (0..task.queues.len()).map(|i| format!("SELECT msg_id FROM dropped_{i}")).collect();
            let sql = include_str!("sql/cancel_task.sql")
                .replace("{drops}", &drop_messages(&task.queues, "SELECT step_uuid::text FROM cancelled"))
                .replace("{dropped}", &dropped.join(" UNION ALL "))
                .replace("{finalized_channel}", TASK_FINALIZED_CHANNEL);
            let (tasks, steps, messages, _announced): (i64, i64, i64, i64) =
                sqlx::query_as(&sql).bind(task_uuid).bind(&reason).fetch_one(&mut **tx).await?;
            tracing::info!(%task_uuid, steps, messages, %reason, "task cancelled");
            debug_assert_eq!(tasks, 1, "the task was locked in a cancellable state");
            if let (TaskState::StepsInProcess, Some(gate)) = (task.state, &task.gate) {
                concurrency::admit(tx, std::slice::from_ref(gate), priority_step).await?;
            }
            Ok(())
        })
    })
    .await?;
    task_query::get_task(pool, task_uuid).await
}

/// Retry a failed task: every `error` step gets its attempts again and is enqueued, and so is every `pending` step
/// whose dependencies are satisfied already (a step behind one an operator resolved while the task stayed failed).
pub async fn retry_task(
    pool: &PgPool,
    task_uuid: Uuid,
    reason: Option<String>,
    priority_step: f64,
) -> Result<TaskView> {
    let reason = reason.unwrap_or_else(|| DEFAULT_RETRY_REASON.into());
    in_transaction(pool, |tx| {
        let reason = reason.clone();
        Box::pin(async move {
            let task = lock_task(tx, task_uuid).await?;
            if task.state != TaskState::Error {
                return Err(conflict(task_uuid, task.state, "retried (only a task in `error` can be)"));
            }
            let sends = send_ctes(&task.queues, "retried", 4);
            let sql = include_str!("sql/retry_task.sql").replace("{sends}", &sends);
            let retried: Vec<(Uuid,)> = sqlx::query_as(&sql)
                .bind(task_uuid)
                .bind(&reason)
                .bind(&task.namespace)
                .bind(&task.queues)
                .bind(task.queues.iter().map(|q| notify_channel(&worker_queue(q))).collect::<Vec<_>>())
                .bind(priority_step)
                .fetch_all(&mut **tx)
                .await?;
            if retried.is_empty() {
                return Err(OrchestrationError::Conflict(format!(
                    "task {task_uuid} has no failed step to retry (resolve or cancel it instead)"
                )));
            }
            // No completion will ever name a step whose dependencies were all satisfied before the retry: it is
            // enqueued now, not whenever a retried step's outcome happens to settle the task.
            settle_tasks(tx, &[task_uuid], &task.queues, priority_step).await?;
            if task.gate.is_some() {
                concurrency::take_slot(tx, task_uuid).await?;
            }
            tracing::info!(%task_uuid, steps = retried.len(), %reason, "task retried");
            Ok(())
        })
    })
    .await?;
    task_query::get_task(pool, task_uuid).await
}

/// Resolve a failed or retrying step by hand with `result`, which its dependents then read.
pub async fn resolve_step(
    pool: &PgPool,
    task_uuid: Uuid,
    step_uuid: Uuid,
    result: Value,
    reason: Option<String>,
    priority_step: f64,
) -> Result<TaskView> {
    let reason = reason.unwrap_or_else(|| DEFAULT_RESOLVE_REASON.into());
    in_transaction(pool, |tx| {
        let (reason, result) = (reason.clone(), result.clone());
        Box::pin(async move {
            let task = lock_task(tx, task_uuid).await?;
            if !matches!(task.state, TaskState::StepsInProcess | TaskState::Error) {
                // A step the task does not have is not found, whatever the task's state.
                let known: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM tasker.workflow_steps WHERE step_uuid = $1 AND task_uuid = $2)",
                )
                .bind(step_uuid)
                .bind(task_uuid)
                .fetch_one(&mut **tx)
                .await?;
                if !known {
                    return Err(OrchestrationError::StepNotFound { task_uuid, step_uuid });
                }
                return Err(conflict(task_uuid, task.state, "changed (its steps can no longer be resolved)"));
            }
            let sql = include_str!("sql/resolve_step.sql")
                .replace("{drops}", &drop_messages(&task.queues, "SELECT step_uuid::text FROM resolved"));
            let (resolved, reopened): (i64, i64) = sqlx::query_as(&sql)
                .bind(task_uuid)
                .bind(step_uuid)
                .bind(&result)
                .bind(&reason)
                .fetch_one(&mut **tx)
                .await?;
            if resolved == 0 {
                let step_state: Option<String> = sqlx::query_scalar(
                    "SELECT state FROM tasker.workflow_steps WHERE step_uuid = $1 AND task_uuid = $2",
                )
                .bind(step_uuid)
                .bind(task_uuid)
                .fetch_optional(&mut **tx)
                .await?;
                return Err(match step_state {
                    None => OrchestrationError::StepNotFound { task_uuid, step_uuid },
                    Some(s) => OrchestrationError::Conflict(format!(
                        "step {step_uuid} is `{s}`: only a step in `error` or `waiting_for_retry` can be resolved"
                    )),
                });
            }
            if task.state == TaskState::StepsInProcess || reopened == 1 {
                let (_, finalized) = settle_tasks(tx, &[task_uuid], &task.queues, priority_step).await?;
                // A task of a gate that runs on after the resolve needs a slot again if it had failed; one that the
                // resolve finished frees its slot for the next waiter.
                if let Some(gate) = &task.gate {
                    match finalized {
                        None if reopened == 1 => concurrency::take_slot(tx, task_uuid).await?,
                        Some(_) if task.state == TaskState::StepsInProcess => {
                            concurrency::admit(tx, std::slice::from_ref(gate), priority_step).await?;
                        }
                        _ => {}
                    }
                }
            }
            tracing::info!(%task_uuid, %step_uuid, %reason, "step resolved by hand");
            Ok(())
        })
    })
    .await?;
    task_query::get_task(pool, task_uuid).await
}

type Action<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>>;

/// Run `action` in a transaction and commit it; again from the start if PostgreSQL aborted it to break a
/// deadlock or a serialization failure.
async fn in_transaction<F>(pool: &PgPool, action: F) -> Result<()>
where
    F: for<'a> Fn(&'a mut Transaction<'static, Postgres>) -> Action<'a>,
{
    let mut attempt = 1;
    loop {
        let mut tx = pool.begin().await?;
        match action(&mut tx).await {
            Ok(()) => return Ok(tx.commit().await?),
            Err(OrchestrationError::Database(e)) if attempt < ATTEMPTS && is_retryable(&e) => {
                tracing::info!(error = %e, attempt, "operator action aborted by the database; trying again");
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_retryable(e: &sqlx::Error) -> bool {
    e.as_database_error().and_then(|d| d.code()).is_some_and(|c| matches!(c.as_ref(), "40P01" | "40001"))
}

/// A task locked for an action.
struct LockedTask {
    state: TaskState,
    namespace: String,
    /// The queues its steps go to (its namespace, unless steps name their own).
    queues: Vec<String>,
    /// Its concurrency gate, when its template limits how many run at once.
    gate: Option<String>,
}

/// Lock the task row; what the action depends on. 404 when there is no such task.
async fn lock_task(conn: &mut PgConnection, task_uuid: Uuid) -> Result<LockedTask> {
    let row: Option<(String, String, Vec<String>, Option<String>)> =
        sqlx::query_as(include_str!("sql/lock_task.sql")).bind(task_uuid).fetch_optional(conn).await?;
    let (state, namespace, queues, gate) = row.ok_or(OrchestrationError::TaskNotFound(task_uuid))?;
    let state = state.parse().map_err(|_| OrchestrationError::Conflict(format!("task {task_uuid} is `{state}`")))?;
    Ok(LockedTask { state, namespace, queues, gate })
}

/// One CTE `dropped_<i>` per queue of `queues`, deleting the messages there of the steps `step_uuids` (a query
/// of step uuids as text). A message a claimer holds right now is skipped: that claimer finds the step changed
/// and deletes it itself.
fn drop_messages(queues: &[String], step_uuids: &str) -> String {
    queues
        .iter()
        .enumerate()
        .map(|(i, queue)| {
            let table = queue_table(&worker_queue(queue));
            format!(
                ", dropped_{i} AS (DELETE FROM {table} m WHERE m.msg_id IN (SELECT q.msg_id FROM {table} q \
                 WHERE q.message->>'step_uuid' IN ({step_uuids}) FOR UPDATE SKIP LOCKED) RETURNING m.msg_id)"
            )
        })
        .collect()
}

fn conflict(task_uuid: Uuid, state: TaskState, action: &str) -> OrchestrationError {
    OrchestrationError::Conflict(format!("task {task_uuid} is `{state}` and cannot be {action}"))
}
