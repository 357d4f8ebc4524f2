//! Dead letters: tasks in `error` (a step exhausted its attempts or failed permanently and nothing else can
//! run). An entry leaves the list when its task is retried, resolved or cancelled (see `task_actions`).

use crate::error::Result;
use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

/// One dead letter: a failed task and its failed steps.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct DeadLetter {
    /// The task.
    pub task_uuid: Uuid,
    /// Template namespace.
    pub namespace: String,
    /// Template name.
    pub name: String,
    /// When the task was finalized as `error`.
    pub failed_at: DateTime<Utc>,
    /// Its steps in `error`: `step_uuid`, `name`, `attempts`, `error`.
    #[schema(value_type = Vec<Object>)]
    pub steps: serde_json::Value,
}

/// Where a page of dead letters starts: after this entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadLetterCursor {
    /// The previous page's last `failed_at`.
    pub failed_at: DateTime<Utc>,
    /// The previous page's last task.
    pub task_uuid: Uuid,
}

impl DeadLetterCursor {
    /// The opaque form handed to clients: `<failed_at in microseconds>_<task_uuid>`.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.failed_at.timestamp_micros(), self.task_uuid)
    }

    /// Parse [`DeadLetterCursor::encode`]'s form; `None` if `raw` is not one (or names a time outside the years
    /// 1-9999, which no failure has and PostgreSQL may not represent).
    pub fn decode(raw: &str) -> Option<Self> {
        let (micros, uuid) = raw.split_once('_')?;
        let failed_at =
            DateTime::from_timestamp_micros(micros.parse().ok()?).filter(|t| (1..=9999).contains(&t.year()))?;
        Some(Self { failed_at, task_uuid: uuid.parse().ok()? })
    }
}

/// A page of dead letters, newest failure first, and the cursor of the next page.
pub async fn list_dead_letters(
    pool: &PgPool,
    namespace: Option<&str>,
    cursor: Option<DeadLetterCursor>,
    limit: i64,
) -> Result<(Vec<DeadLetter>, Option<DeadLetterCursor>)> {
    let mut entries: Vec<DeadLetter> = sqlx::query_as(include_str!("sql/dead_letters.sql"))
        .bind(namespace)
        .bind(cursor.map(|c| c.failed_at))
        .bind(cursor.map(|c| c.task_uuid))
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
    let next = if entries.len() as i64 > limit {
        entries.truncate(limit as usize);
        entries.last().map(|e| DeadLetterCursor { failed_at: e.failed_at, task_uuid: e.task_uuid })
    } else {
        None
    };
    Ok((entries, next))
}

/// Tasks in `error` per registered namespace (zero included), for the `tasker_dead_letter_tasks` gauge.
pub async fn count_by_namespace(pool: &PgPool) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT n.name, count(t.task_uuid)
         FROM tasker.namespaces n LEFT JOIN tasker.tasks t ON t.namespace = n.name AND t.state = 'error'
         GROUP BY n.name ORDER BY n.name",
    )
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = DeadLetterCursor {
            failed_at: DateTime::from_timestamp_micros(1_764_650_000_123_456).unwrap(),
            task_uuid: Uuid::now_v7(),
        };
        assert_eq!(DeadLetterCursor::decode(&c.encode()), Some(c));
        for bad in ["", "x", "12_nope", "nope_0193a0c0-0000-7000-8000-000000000000", "1_2_3"] {
            assert_eq!(DeadLetterCursor::decode(bad), None, "{bad}");
        }
    }
}
