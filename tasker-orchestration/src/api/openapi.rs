//! The OpenAPI description of the REST API (`GET /openapi.json`, readable at `/docs`), generated from the
//! handlers' annotations, and the response shapes that exist only on the wire.

use super::{
    analytics, dead_letters, events, health, overview, schedules, task_actions, tasks, templates, triggers, workers,
};
use crate::analytics::{Analytics, StepStats, TaskCounts, TemplateStats};
use crate::dead_letters::DeadLetter;
use crate::task_initializer::CreateTaskRequest;
use crate::task_query::{StepView, TaskView};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

/// Every route of the server.
#[derive(OpenApi)]
#[openapi(
    info(title = "Tasker", description = "Durable DAG workflows on PostgreSQL: tasks, operator actions, dead letters, events."),
    paths(
        tasks::create, tasks::list, tasks::show, tasks::steps,
        task_actions::cancel, task_actions::retry, task_actions::resolve,
        events::task_events, events::all_events,
        dead_letters::list, analytics::show, workers::list, overview::show,
        templates::list, templates::register, templates::versions, templates::retire,
        schedules::create, schedules::list, schedules::show, schedules::update, schedules::delete, triggers::emit,
        health::live, health::ready, health::metrics,
    ),
    components(schemas(
        CreateTaskRequest, TaskView, StepView, TaskList, StepList, TemplateList, DeadLetter, DeadLetterPage,
        task_actions::ReasonBody, task_actions::ResolveBody, ErrorBody, ErrorDetail, FieldError,
        Analytics, TaskCounts, TemplateStats, StepStats,
        crate::events::Event, workers::WorkerList, crate::workers::WorkerView, crate::overview::Overview,
        crate::workers::QueueBacklog,
        templates::TemplateKey, templates::TemplateVersions, crate::template_registry::TemplateVersion,
        schedules::ScheduleList, crate::schedules::NewSchedule, crate::schedules::SchedulePatch,
        crate::schedules::ScheduleView, crate::schedules::FireView, tasker_shared::template::Overlap,
        tasker_shared::template::CatchUp, crate::event_triggers::EmitEvent, crate::event_triggers::EventOutcome,
        crate::event_triggers::Rejected,
    )),
    tags(
        (name = "tasks", description = "Create and read tasks"),
        (name = "operations", description = "Cancel, retry and resolve; dead letters"),
        (name = "events", description = "Live task and step transitions (Server-Sent Events)"),
        (name = "templates", description = "Task templates"),
        (name = "schedules", description = "Cron schedules and events that start tasks"),
        (name = "health", description = "Probes and metrics"),
    )
)]
pub struct ApiDoc;

/// Every error: `{"error": {"code", "message", "field"}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong and where.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code: `validation_error`, `bad_request`, `not_found`, `conflict`, `unavailable`, …
    pub code: String,
    /// For people.
    pub message: String,
    /// The request field at fault, when there is one (`context.even_number`, `task_uuid`, `reason`, …).
    pub field: Option<String>,
    /// Every violation when there are several (an input schema's), the first being `field` and `message`;
    /// absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// One violation of a request.
#[derive(Serialize, ToSchema)]
pub struct FieldError {
    /// Where (`context.email`).
    pub field: String,
    /// What is wrong there.
    pub message: String,
}

/// `GET /v1/tasks`.
#[derive(Serialize, ToSchema)]
pub struct TaskList {
    /// Tasks, newest first, without their steps.
    pub tasks: Vec<TaskView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<Uuid>,
}

/// `GET /v1/tasks/{task_uuid}/steps`.
#[derive(Serialize, ToSchema)]
pub struct StepList {
    /// The task.
    pub task_uuid: Uuid,
    /// Its steps in dependency order.
    pub steps: Vec<StepView>,
}

/// `GET /v1/templates`.
#[derive(Serialize, ToSchema)]
pub struct TemplateList {
    /// Each template as registered (namespace, name, version, description, input_schema, steps).
    #[schema(value_type = Vec<Object>)]
    pub templates: Vec<serde_json::Value>,
}

/// `GET /v1/dlq`.
#[derive(Serialize, ToSchema)]
pub struct DeadLetterPage {
    /// Failed tasks, newest failure first.
    pub entries: Vec<DeadLetter>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}
