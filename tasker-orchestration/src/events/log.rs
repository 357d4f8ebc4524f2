//! Reading placed events from the database: a page of the whole stream, one task's events, the stream's end.

use super::{Event, EventKind};
use crate::error::Result;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

/// Events after a position, and how far the read got.
#[derive(Debug, Clone, Default)]
pub struct EventPage {
    /// The events, in id order.
    pub events: Vec<Event>,
    /// Every event up to this id has been accounted for (returned, or filtered out).
    pub position: i64,
    /// Whether the read reached the stream's end (otherwise read again from `position`).
    pub at_end: bool,
}

/// One task's events after a position.
#[derive(Debug, Clone, Default)]
pub struct TaskEvents {
    /// The events, in id order.
    pub events: Vec<Event>,
    /// The stream's end in the same snapshot: the task has no placed event after it.
    pub position: i64,
    /// The state of the task's latest placed task event (at or before the read's start included).
    pub last_task_state: Option<String>,
}

#[derive(FromRow)]
struct EventRow {
    id: Option<i64>,
    kind: Option<String>,
    task_uuid: Option<Uuid>,
    namespace: Option<String>,
    step_uuid: Option<Uuid>,
    step_name: Option<String>,
    from_state: Option<String>,
    to_state: Option<String>,
    reason: Option<String>,
    at: Option<DateTime<Utc>>,
}

impl EventRow {
    /// The event of a row; `None` for the row that only carries the position.
    fn into_event(self) -> Option<Event> {
        Some(Event {
            id: self.id?,
            kind: if self.kind.as_deref() == Some("task") { EventKind::Task } else { EventKind::Step },
            task_uuid: self.task_uuid?,
            namespace: self.namespace.unwrap_or_default(),
            step_uuid: self.step_uuid,
            step_name: self.step_name,
            from_state: self.from_state,
            to_state: self.to_state?,
            reason: self.reason,
            at: self.at?,
        })
    }
}

#[derive(FromRow)]
struct PageRow {
    position: i64,
    at_end: bool,
    #[sqlx(flatten)]
    event: EventRow,
}

#[derive(FromRow)]
struct TaskRow {
    position: i64,
    last_task_state: Option<String>,
    #[sqlx(flatten)]
    event: EventRow,
}

/// The events after `after` from at most `max_transactions` placed transactions, of every task or of one
/// `namespace`.
pub async fn read_events(
    pool: &PgPool,
    after: i64,
    namespace: Option<&str>,
    max_transactions: i64,
) -> Result<EventPage> {
    let rows: Vec<PageRow> = sqlx::query_as(include_str!("../sql/read_events.sql"))
        .bind(after)
        .bind(namespace)
        .bind(max_transactions)
        .fetch_all(pool)
        .await?;
    let (position, at_end) = rows.first().map(|r| (r.position, r.at_end)).unwrap_or((after, true));
    let events = rows.into_iter().filter_map(|r| r.event.into_event()).collect();
    Ok(EventPage { events, position: position.max(after), at_end })
}

/// Every placed event of `task` after `after`.
pub async fn read_task_events(pool: &PgPool, task: Uuid, after: i64) -> Result<TaskEvents> {
    let rows: Vec<TaskRow> =
        sqlx::query_as(include_str!("../sql/read_task_events.sql")).bind(task).bind(after).fetch_all(pool).await?;
    let (position, last_task_state) =
        rows.first().map(|r| (r.position, r.last_task_state.clone())).unwrap_or((after, None));
    let events = rows.into_iter().filter_map(|r| r.event.into_event()).collect();
    Ok(TaskEvents { events, position: position.max(after), last_task_state })
}

/// The id of the last placed event (0 before the first).
pub async fn stream_end(pool: &PgPool) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT next_id - 1 FROM tasker.event_cursor").fetch_one(pool).await?)
}
