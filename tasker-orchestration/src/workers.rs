//! The workers registry as the server reads it: the live workers (`GET /v1/workers`), and each step queue's
//! backlog with its live consumers, which names the queues whose waiting steps no worker will take
//! (`/health/ready`, `/metrics`). Workers write the registry (`tasker-worker-foundation/src/presence.rs`); both
//! sides agree on liveness through `tasker_shared::presence`.

use crate::error::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};
use tasker_shared::messaging::{queue_table, step_queue_name};
use tasker_shared::presence::LIVE_WITHIN;

/// One live worker.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct WorkerView {
    /// Its id (`worker.worker_id`, or `<host>-<pid>`); steps it claims record it as `claimed_by`.
    pub worker_id: String,
    /// The host it runs on.
    pub host: String,
    /// Its handlers' language: `rust`, `python` or `ruby`.
    pub language: String,
    /// The queues it serves, as templates name them (a step's `queue`, or its namespace).
    pub queues: Vec<String>,
    /// Steps it runs at once at most.
    pub concurrency: i32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last presence beat (every 5 s; a worker not seen for 15 s is not listed).
    pub last_seen_at: DateTime<Utc>,
}

/// The live workers, by id.
pub async fn live_workers(pool: &PgPool) -> Result<Vec<WorkerView>> {
    Ok(sqlx::query_as(include_str!("sql/live_workers.sql")).bind(LIVE_WITHIN.as_secs_f64()).fetch_all(pool).await?)
}

/// One step queue's backlog.
#[derive(Debug, Clone, PartialEq, FromRow, Serialize, utoipa::ToSchema)]
pub struct QueueBacklog {
    /// The queue as templates name it.
    pub queue: String,
    /// Messages in it (waiting, held by workers, or retries not yet due).
    pub depth: i64,
    /// Messages a worker could take now.
    pub ready: i64,
    /// Age of the oldest message, if any.
    pub oldest_age_seconds: Option<f64>,
    /// Live workers serving it.
    pub consumers: i64,
}

impl QueueBacklog {
    /// Steps wait here and no live worker serves the queue: they will wait until one does.
    pub fn unserved(&self) -> bool {
        self.ready > 0 && self.consumers == 0
    }
}

/// Every step queue's backlog, by name.
pub async fn queue_backlog(pool: &PgPool) -> Result<Vec<QueueBacklog>> {
    let mut conn = pool.acquire().await?;
    backlog_on(&mut conn).await
}

/// [`queue_backlog`], given up after `limit` (a statement timeout in its own transaction): counting a deep backlog
/// reads whole queue tables, and a readiness probe must answer in time whatever the queues hold.
pub async fn queue_backlog_within(pool: &PgPool, limit: std::time::Duration) -> Result<Vec<QueueBacklog>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('statement_timeout', $1, true)")
        .bind(limit.as_millis().to_string())
        .execute(&mut *tx)
        .await?;
    let backlog = backlog_on(&mut tx).await?;
    tx.commit().await?;
    Ok(backlog)
}

async fn backlog_on(conn: &mut sqlx::PgConnection) -> Result<Vec<QueueBacklog>> {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT queue_name FROM pgmq.meta ORDER BY queue_name").fetch_all(&mut *conn).await?;
    let queues: Vec<(&str, &str)> =
        names.iter().filter_map(|pgmq| step_queue_name(pgmq).map(|queue| (pgmq.as_str(), queue))).collect();
    if queues.is_empty() {
        return Ok(Vec::new());
    }
    let selects: Vec<String> = queues
        .iter()
        .enumerate()
        .map(|(i, (pgmq, _))| {
            format!(
                "SELECT ($2::text[])[{}] AS queue, count(*) AS depth, \
                 count(*) FILTER (WHERE vt <= clock_timestamp()) AS ready, \
                 extract(epoch FROM clock_timestamp() - min(enqueued_at))::float8 AS oldest_age_seconds FROM {}",
                i + 1,
                queue_table(pgmq)
            )
        })
        .collect();
    let sql = include_str!("sql/queue_backlog.sql").replace("{backlog}", &selects.join("\n    UNION ALL\n    "));
    let names: Vec<&str> = queues.iter().map(|(_, queue)| *queue).collect();
    Ok(sqlx::query_as(&sql).bind(LIVE_WITHIN.as_secs_f64()).bind(&names).fetch_all(conn).await?)
}
