//! Delayed tasks: a task created with a future `run_at` waits in state `scheduled` with its root steps
//! `pending`. When the time comes, one transaction starts it (`sql/start_due_tasks.sql`) and enqueues its root
//! steps exactly as a result batch enqueues ready steps. Nothing is kept in memory, so a restart changes
//! nothing, and any number of servers may run this: each due task is locked by the one that starts it.

use crate::error::Result;
use crate::result_processor::settle_tasks;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Start up to `batch` due tasks (`priority_step`: see `SchedulingConfig::priority_step_seconds`); returns how
/// many were started.
pub async fn start_due(pool: &PgPool, batch: u32, priority_step: f64) -> Result<usize> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(Uuid, String, Vec<String>)> =
        sqlx::query_as(include_str!("sql/start_due_tasks.sql")).bind(batch as i32).fetch_all(&mut *tx).await?;
    let mut by_namespace: BTreeMap<String, (Vec<Uuid>, BTreeSet<String>)> = BTreeMap::new();
    for (task, namespace, queues) in &rows {
        let entry = by_namespace.entry(namespace.clone()).or_default();
        entry.0.push(*task);
        entry.1.extend(queues.iter().cloned());
    }
    for (namespace, (tasks, queues)) in &by_namespace {
        let queues: Vec<String> = queues.iter().cloned().collect();
        settle_tasks(&mut tx, tasks, namespace, &queues, priority_step).await?;
    }
    tx.commit().await?;
    if !rows.is_empty() {
        metrics::counter!("tasker_delayed_tasks_started_total").increment(rows.len() as u64);
        tracing::debug!(started = rows.len(), "delayed tasks started");
    }
    Ok(rows.len())
}

/// When the next scheduled task is due, if any is waiting.
pub async fn next_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar("SELECT min(run_at) FROM tasker.tasks WHERE state = 'scheduled'").fetch_one(pool).await?)
}

/// How many tasks wait for their `run_at` (the `tasker_scheduled_tasks` gauge).
pub async fn waiting(pool: &PgPool) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM tasker.tasks WHERE state = 'scheduled'").fetch_one(pool).await?)
}
