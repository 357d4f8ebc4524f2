//! The event stream: every task and step transition as an event with a commit-ordered id (see the migration
//! `20261202000004_event_stream.sql` for how ids are made).
//!
//! - [`sequencer`] places committed transactions in the stream (gives their events ids).
//! - [`log`] reads placed events from the database.
//! - [`hub`] runs the sequencer and ONE reader per server, and fans batches out to every follower.
//! - [`follow`] is one client's view: catch up from the database, then follow the hub, with no gap and no
//!   duplicate.

pub mod follow;
pub mod hub;
pub mod log;
pub mod sequencer;

pub use follow::{follow, Scope};
pub use hub::{EventBatch, EventHub};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tasker_shared::states::TaskState;
use uuid::Uuid;

/// One transition, as the stream shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// Position in the stream; increases in commit order.
    pub id: i64,
    /// `task` or `step` (the SSE event name).
    #[serde(skip)]
    pub kind: EventKind,
    /// The task.
    pub task_uuid: Uuid,
    /// The task's namespace.
    pub namespace: String,
    /// The step, for step events.
    pub step_uuid: Option<Uuid>,
    /// The step's name, for step events.
    pub step_name: Option<String>,
    /// The state left (`null` for a creation).
    pub from_state: Option<String>,
    /// The state entered.
    pub to_state: String,
    /// Why (the audit row's reason).
    pub reason: Option<String>,
    /// When the transition was written.
    pub at: DateTime<Utc>,
}

/// Whether an event is a task's or a step's transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A task transition.
    Task,
    /// A step transition.
    Step,
}

impl EventKind {
    /// The SSE event name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Task => "task",
            Self::Step => "step",
        }
    }
}

impl Event {
    /// Whether this is the event after which a task's stream ends: the task entering `complete`, `cancelled`
    /// or `error` (a retried task in `error` starts a new stream).
    pub fn ends_task(&self) -> bool {
        self.kind == EventKind::Task && ends_task_stream(&self.to_state)
    }
}

/// Whether a task in `state` has nothing more to stream.
pub fn ends_task_stream(state: &str) -> bool {
    state.parse::<TaskState>().is_ok_and(TaskState::is_terminal)
}
