//! Delayed tasks: a task created with a future `run_at` waits in state `scheduled` with its root steps
//! `pending`. When the time comes, one transaction starts it (`sql/start_due_tasks.sql`) and enqueues its root
//! steps exactly as a result batch enqueues ready steps; a task whose template limits how many run at once is
//! queued instead and admitted if its gate allows ([`crate::concurrency`]). Nothing is kept in memory, so a
//! restart changes nothing, and any number of servers may run this: each due task is locked by the one that
//! starts it.

use crate::concurrency;
use crate::error::Result;
use crate::result_processor::settle_tasks;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeSet;
use tasker_shared::states::TaskState;
use uuid::Uuid;

/// A row of `sql/start_due_tasks.sql`.
#[derive(sqlx::FromRow)]
struct DueTask {
    task_uuid: Uuid,
    namespace: String,
    queues: Vec<String>,
    state: String,
    concurrency_gate: Option<String>,
}

/// Start up to `batch` due tasks (`priority_step`: see `SchedulingConfig::priority_step_seconds`); returns how
/// many were due.
pub async fn start_due(pool: &PgPool, batch: u32, priority_step: f64) -> Result<usize> {
    let mut tx = pool.begin().await?;
    let rows: Vec<DueTask> =
        sqlx::query_as(include_str!("sql/start_due_tasks.sql")).bind(batch as i32).fetch_all(&mut *tx).await?;
    let started: Vec<(Uuid, String, Vec<String>)> = rows
        .iter()
        .filter(|r| r.state == TaskState::StepsInProcess.as_str())
        .map(|r| (r.task_uuid, r.namespace.clone(), r.queues.clone()))
        .collect();
    enqueue_roots(&mut tx, &started, priority_step).await?;
    let gates: Vec<String> = rows.iter().filter_map(|r| r.concurrency_gate.clone()).collect();
    if !gates.is_empty() {
        concurrency::admit(&mut tx, &gates, priority_step).await?;
    }
    tx.commit().await?;
    if !rows.is_empty() {
        metrics::counter!("tasker_delayed_tasks_started_total").increment(rows.len() as u64);
        tracing::debug!(due = rows.len(), "delayed tasks started or queued");
    }
    Ok(rows.len())
}

/// Enqueue the root steps of tasks that have just moved to `steps_in_process` (each with its namespace and the
/// queues of its steps), in the caller's transaction, which holds their rows.
pub(crate) async fn enqueue_roots(
    conn: &mut PgConnection,
    started: &[(Uuid, String, Vec<String>)],
    priority_step: f64,
) -> Result<()> {
    if started.is_empty() {
        return Ok(());
    }
    let tasks: Vec<Uuid> = started.iter().map(|(task, _, _)| *task).collect();
    let queues: BTreeSet<&String> = started.iter().flat_map(|(_, _, queues)| queues).collect();
    let queues: Vec<String> = queues.into_iter().cloned().collect();
    settle_tasks(conn, &tasks, &queues, priority_step).await?;
    Ok(())
}

/// When the next scheduled task is due, if any is waiting.
pub async fn next_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar("SELECT min(run_at) FROM tasker.tasks WHERE state = 'scheduled'").fetch_one(pool).await?)
}

/// How many tasks wait for their `run_at` (the `tasker_scheduled_tasks` gauge).
pub async fn waiting(pool: &PgPool) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM tasker.tasks WHERE state = 'scheduled'").fetch_one(pool).await?)
}
