//! `GET /v1/overview`: what the dashboard's first page shows, in one request: every task by state, the last
//! hour per minute, the step queues, the dead-letter count and the live workers.

use crate::error::Result;
use crate::workers::{live_workers, queue_backlog, QueueBacklog, WorkerView};
use chrono::Utc;
use serde::Serialize;
use sqlx::PgPool;
use std::collections::BTreeMap;

/// The overview.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Overview {
    /// Every task by state (states with none are absent).
    pub tasks: BTreeMap<String, i64>,
    /// Per minute of the last hour: `{minute, created, completed, failed}` of the tasks created in it.
    #[schema(value_type = Vec<Object>)]
    pub per_minute: serde_json::Value,
    /// Each step queue's depth, ready messages, oldest message and live consumers.
    pub queues: Vec<QueueBacklog>,
    /// Tasks in `error`.
    pub dead_letters: i64,
    /// The workers seen within the last 15 s.
    pub workers: Vec<WorkerView>,
}

/// Read the overview.
pub async fn overview(pool: &PgPool) -> Result<Overview> {
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, count(*) FROM tasker.tasks GROUP BY state").fetch_all(pool).await?;
    let tasks: BTreeMap<String, i64> = counts.into_iter().collect();
    let mut conn = pool.acquire().await?;
    let (_, per_minute) =
        crate::analytics::tasks_since(&mut conn, Utc::now() - chrono::Duration::hours(1), None).await?;
    drop(conn);
    Ok(Overview {
        dead_letters: tasks.get("error").copied().unwrap_or(0),
        tasks,
        per_minute,
        queues: queue_backlog(pool).await?,
        workers: live_workers(pool).await?,
    })
}
