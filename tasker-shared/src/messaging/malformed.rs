//! Malformed message bodies. The hot statements that read a queue (the worker's claim, the orchestrator's
//! result batch) cast a body's `step_uuid`/`task_uuid` straight to `uuid`: validating every body in SQL cost
//! 10–30 µs per step (a regular expression per field, which the planner repeats wherever it inlines the
//! expression), about a twentieth of a step's database time. A body that is not a uuid where one belongs makes
//! the statement fail instead, atomically, having claimed and taken nothing. The reader then drops the queue's
//! malformed bodies with [`drop_malformed`] and reads again, so one poison message never stops a queue.

use crate::error::Result;
use sqlx::PgPool;

use super::queue_table;

/// Whether `err` is PostgreSQL refusing a text as a uuid (SQLSTATE 22P02, invalid_text_representation): the
/// sign of a malformed body in a read statement.
pub fn is_malformed_body(err: &sqlx::Error) -> bool {
    err.as_database_error().and_then(|e| e.code()).is_some_and(|code| code == "22P02")
}

/// Delete `queue`'s messages whose `fields` (each `step_uuid` or `task_uuid`: what the queue's reader casts) are
/// present but not uuids (checked by `tasker.try_uuid`, which never fails); returns how many. Bodies lacking those
/// fields are left to the readers, which handle them as they would any message naming no step. A reader that
/// dropped nothing should not read again at once: its failure has another cause.
pub async fn drop_malformed(pool: &PgPool, queue: &str, fields: &[&str]) -> Result<u64> {
    let conditions: Vec<String> = fields
        .iter()
        .map(|f| {
            debug_assert!(matches!(*f, "step_uuid" | "task_uuid"));
            format!("(message->>'{f}' IS NOT NULL AND tasker.try_uuid(message->>'{f}') IS NULL)")
        })
        .collect();
    let dropped = sqlx::query(&format!("DELETE FROM {} WHERE {}", queue_table(queue), conditions.join(" OR ")))
        .execute(pool)
        .await?
        .rows_affected();
    if dropped > 0 {
        tracing::warn!(%queue, dropped, ?fields, "dropped messages whose uuid fields are not uuids");
        metrics::counter!("tasker_malformed_messages_dropped_total").increment(dropped);
    }
    Ok(dropped)
}
