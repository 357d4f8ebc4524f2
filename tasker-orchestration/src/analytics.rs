//! `GET /v1/analytics`: what happened since a moment (the last hour by default), read from the tasks and the
//! audit trail of the tasks created since then. Every statement starts from a primary-key range: task ids are
//! UUIDv7, so "created since T" is "id at least the smallest id of T's millisecond".

use crate::error::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

/// The analytics of the tasks created since `since`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Analytics {
    /// Start of the window.
    pub since: DateTime<Utc>,
    /// The tasks created since then, by current state.
    pub tasks: TaskCounts,
    /// Per minute: tasks created, and (of those) completed and failed in that minute.
    #[schema(value_type = Vec<Object>)]
    pub per_minute: serde_json::Value,
    /// Per template version: completed and failed tasks, creation-to-completion percentiles.
    pub templates: Vec<TemplateStats>,
    /// The ten steps with the highest p95 run time (claim to report).
    pub slowest_steps: Vec<StepStats>,
}

/// Tasks by state.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct TaskCounts {
    pub created: i64,
    pub complete: i64,
    pub error: i64,
    pub cancelled: i64,
    pub running: i64,
}

/// One template version's outcomes.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct TemplateStats {
    pub namespace: String,
    pub name: String,
    pub version: String,
    pub completed: i64,
    pub failed: i64,
    /// Creation to completion of completed tasks, milliseconds (null when none completed).
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
}

/// One step (of one template) and how long its runs took.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct StepStats {
    pub namespace: String,
    /// The template.
    pub name: String,
    /// The step.
    pub step: String,
    /// Steps of that name in the window.
    pub count: i64,
    /// Claim to report, milliseconds, over every attempt.
    pub p50_ms: f64,
    pub p95_ms: f64,
    /// Attempts after the first.
    pub retries: i64,
}

/// The smallest UUIDv7 of `at`'s millisecond: every task created at or after `at` has an id at least this.
pub fn lowest_uuid_at(at: DateTime<Utc>) -> Uuid {
    let ms = at.timestamp_millis().max(0) as u64;
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    bytes[6] = 0x70;
    bytes[8] = 0x80;
    Uuid::from_bytes(bytes)
}

/// Read the analytics of the tasks created since `since` (of `namespace` only, when given).
pub async fn analytics(pool: &PgPool, since: DateTime<Utc>, namespace: Option<&str>) -> Result<Analytics> {
    let low = lowest_uuid_at(since);
    // One snapshot for the three reads, and room to sort a window's durations in memory.
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    sqlx::query("SET LOCAL work_mem = '64MB'").execute(&mut *tx).await?;
    let (tasks, per_minute) = tasks_since(&mut tx, since, namespace).await?;
    let templates = sqlx::query_as(include_str!("sql/analytics_templates.sql"))
        .bind(low)
        .bind(since)
        .bind(namespace)
        .fetch_all(&mut *tx)
        .await?;
    let slowest_steps = sqlx::query_as(include_str!("sql/analytics_steps.sql"))
        .bind(low)
        .bind(since)
        .bind(namespace)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Analytics { since, tasks, per_minute, templates, slowest_steps })
}

/// The tasks created since `since` by state, and per minute the tasks created, completed and failed
/// (`sql/analytics_tasks.sql`).
pub async fn tasks_since(
    conn: &mut sqlx::PgConnection,
    since: DateTime<Utc>,
    namespace: Option<&str>,
) -> Result<(TaskCounts, serde_json::Value)> {
    let (created, complete, error, cancelled, running, per_minute): (i64, i64, i64, i64, i64, serde_json::Value) =
        sqlx::query_as(include_str!("sql/analytics_tasks.sql"))
            .bind(lowest_uuid_at(since))
            .bind(since)
            .bind(namespace)
            .fetch_one(conn)
            .await?;
    Ok((TaskCounts { created, complete, error, cancelled, running }, per_minute))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_uuid_of_a_millisecond_sorts_before_every_id_made_in_it() {
        let now = Utc::now();
        let low = lowest_uuid_at(now);
        let made = Uuid::now_v7();
        assert!(low <= made, "{low} > {made}");
        assert_eq!(low.get_version_num(), 7);
        assert!(lowest_uuid_at(now + chrono::Duration::milliseconds(5)) > made);
    }
}
