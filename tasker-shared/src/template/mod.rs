//! Task templates: the YAML format of a named, versioned DAG of steps, its validation and loading.
//!
//! ```yaml
//! namespace: linear_workflow
//! name: mathematical_sequence
//! version: 1.0.0
//! input_schema: {type: object, required: [even_number]}
//! steps:
//!   - name: linear_step_1
//!     handler: linear_workflow.square
//!     retry: {max_attempts: 3, backoff: exponential, base_ms: 200, max_ms: 30000}
//!     timeout_seconds: 30
//!   - name: linear_step_2
//!     handler: linear_workflow.square
//!     depends_on: [linear_step_1]
//! ```

mod dynamic;
mod error;
mod limits;
mod loader;
mod routes;
mod starts;
mod validate;

pub use dynamic::{
    instance_name, read_outcome, Expansion, InitialStep, NewDynamicStep, Outcome, OutcomeLimits, Shape, StepStatus,
};
pub use error::TemplateError;
pub use limits::{ConcurrencyLimit, ConcurrencySpec, RateLimitSpec, TaskLimits, MAX_PER_SECOND, MAX_RUNNING};
pub use loader::{load_dir, parse_template, LoadReport};
pub use routes::{QueueRoutes, Route, Servable};
pub use starts::{CatchUp, Overlap, ScheduleSpec, TriggerSpec, DEFAULT_PRIORITY, PRIORITIES};
pub use validate::MAX_NAMESPACE_LEN;

use serde::{Deserialize, Serialize};

/// A named, versioned DAG of steps in a namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskTemplate {
    /// Namespace; also the queue of every step that names none (pgmq queue `worker_<namespace>_queue`).
    pub namespace: String,
    /// Template name, unique within the namespace.
    pub name: String,
    /// Version string (semantic versioning by convention).
    pub version: String,
    /// Free-form description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema the task context must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<serde_json::Value>,
    /// The steps, in any order; dependencies define the DAG.
    pub steps: Vec<StepTemplate>,
    /// Default priority of its tasks, 1 (lowest) to 5 (highest); unset, 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Cron schedules that start its tasks, registered when a server starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<ScheduleSpec>,
    /// Events that start its tasks (`POST /v1/events`, `tasker.emit_event`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<TriggerSpec>,
    /// How many of its tasks run at once (in all, or per key value); over the limit a task waits `queued`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<ConcurrencySpec>,
}

/// One step of a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepTemplate {
    /// Step name, unique within the template.
    pub name: String,
    /// Registered handler name (e.g. `linear_workflow.square`).
    pub handler: String,
    /// What the step does to the DAG: `standard` (the default), `decision`, `batchable`, `batch_worker` or
    /// `convergence` (see [`StepType`]).
    #[serde(default, rename = "type", skip_serializing_if = "StepType::is_standard")]
    pub step_type: StepType,
    /// The queue the step's messages go to (pgmq queue `worker_<queue>_queue`), so that a step can run in
    /// another language or on its own worker pool; unset, the template's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Names of the steps this one waits for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Retry policy; unset fields fall back to the configured defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Handler time limit in seconds; unset falls back to the configured default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
    /// Static configuration handed to the handler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
    /// A token bucket shared by every step naming its key: workers claim the step only when it has a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
}

/// What a step does to the DAG of its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepType {
    /// Runs once its dependencies are done.
    #[default]
    Standard,
    /// Its result's `branches` names which of its direct dependents are created and run.
    Decision,
    /// Its result's `batches` lists work items; one instance of its `batch_worker` step is created per item.
    Batchable,
    /// The template of the instances a `batchable` step creates (never created with the task).
    BatchWorker,
    /// Depends on steps that may or may not be created; runs once every one that was created is done.
    Convergence,
}

impl StepType {
    /// True for [`StepType::Standard`].
    pub fn is_standard(&self) -> bool {
        *self == StepType::Standard
    }

    /// The name stored on the step row (`workflow_steps.kind`); `None` for a standard step.
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            StepType::Standard => None,
            StepType::Decision => Some("decision"),
            StepType::Batchable => Some("batchable"),
            StepType::BatchWorker => Some("batch_worker"),
            StepType::Convergence => Some("convergence"),
        }
    }
}

/// Retry settings of one step.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Total attempts allowed, including the first (1 = never retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Backoff kind; only `exponential` is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<BackoffKind>,
    /// First retry delay in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_ms: Option<u64>,
    /// Upper bound of the retry delay in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<u64>,
}

/// Supported backoff shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackoffKind {
    /// `base · 2^(attempt-1)`, capped, with jitter.
    Exponential,
}

impl TaskTemplate {
    /// `namespace/name@version`, for logs and errors.
    pub fn key(&self) -> String {
        format!("{}/{}@{}", self.namespace, self.name, self.version)
    }

    /// Step names in a dependency-respecting order (every step after its dependencies). Assumes validity.
    pub fn topological_order(&self) -> Vec<&StepTemplate> {
        validate::topological_order(&self.steps).unwrap_or_default()
    }

    /// The queue `step` goes to: its own `queue`, or the namespace.
    pub fn queue_of<'a>(&'a self, step: &'a StepTemplate) -> &'a str {
        step.queue.as_deref().unwrap_or(&self.namespace)
    }

    /// Every queue the template's steps go to, sorted, without repeats.
    pub fn queues(&self) -> Vec<&str> {
        let queues: std::collections::BTreeSet<&str> = self.steps.iter().map(|s| self.queue_of(s)).collect();
        queues.into_iter().collect()
    }

    /// Every handler name the template uses.
    pub fn handlers(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().map(|s| s.handler.as_str())
    }
}
