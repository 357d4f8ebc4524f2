//! Messaging over pgmq, in the same database as the state it announces: a state change and its message commit
//! together or not at all. The same transaction notifies the queue's channel (see [`announce`]), which
//! PostgreSQL delivers at commit, and listeners ([`Wakeup`]) wake.
//!
//! Queues: `worker_<namespace>_queue` carries [`StepMessage`]s to workers; `orchestration_step_results` carries
//! [`ResultMessage`]s back. Messages only name the step: the database row is the truth, so a duplicate or
//! stale message is harmless (its guarded transition finds the row in another state and does nothing).

mod announce;
mod malformed;
mod queue;
mod wakeup;

pub use announce::announce;
pub use malformed::{drop_malformed, is_malformed_body};
pub use queue::{
    delete_batch, delete_ctes, ensure_queue, extend_visibility, index_queues, queue_table, release_now, send_batch,
    send_ctes,
};
pub use wakeup::{WakeSource, Wakeup, WakeupSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The queue orchestration reads worker results from.
pub const RESULTS_QUEUE: &str = "orchestration_step_results";

/// The NOTIFY channel on which every finalized task is announced (payload: its `task_uuid`), so that clients
/// can wait for completion without polling.
pub const TASK_FINALIZED_CHANNEL: &str = "tasker_task_finalized";

/// The topic whose NOTIFY channel (`notify_channel(TEMPLATES_TOPIC)`, `tasker_templates`) announces a template
/// registered over the API (payload: its namespace), so that workers can start serving it.
pub const TEMPLATES_TOPIC: &str = "templates";

/// The queue of step messages for `namespace`.
pub fn worker_queue(namespace: &str) -> String {
    format!("worker_{namespace}_queue")
}

/// The queue name (as templates write it) of a pgmq step queue: `polyglot_py` for `worker_polyglot_py_queue`;
/// `None` for a queue that is not a step queue (nor named like one).
pub fn step_queue_name(pgmq_queue: &str) -> Option<&str> {
    pgmq_queue
        .strip_prefix("worker_")?
        .strip_suffix("_queue")
        .filter(|q| !q.is_empty() && q.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
}

/// The NOTIFY channel announcing new messages on `queue`.
pub fn notify_channel(queue: &str) -> String {
    format!("tasker_{queue}")
}

/// "Step `step_uuid` of `task_uuid` is ready to run."
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepMessage {
    /// The task.
    pub task_uuid: Uuid,
    /// The step to claim and run.
    pub step_uuid: Uuid,
}

/// "A worker reported an outcome for `step_uuid`; apply it."
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultMessage {
    /// The task.
    pub task_uuid: Uuid,
    /// The step whose outcome is stored on its row.
    pub step_uuid: Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_pgmq_and_notify_limits() {
        let ns = "a".repeat(crate::template::MAX_NAMESPACE_LEN);
        let q = worker_queue(&ns);
        // pgmq prefixes tables with `q_`/`a_` and PostgreSQL identifiers are at most 63 bytes.
        assert!(q.len() <= 47, "pgmq allows 47 characters, got {}", q.len());
        assert!(notify_channel(&q).len() <= 63);
        assert_eq!(worker_queue("linear_workflow"), "worker_linear_workflow_queue");
        assert_eq!(step_queue_name(&worker_queue("polyglot_py")), Some("polyglot_py"));
        assert_eq!(step_queue_name(RESULTS_QUEUE), None);
    }
}
