//! Task creation: validate the context, then in ONE statement insert the task and its steps (each carrying
//! its dependencies), mark the root steps `enqueued` and send their messages. An idempotency key already used
//! for the template returns the existing task instead.

use crate::error::Result;
use crate::task_query::{self, StepView, TaskView};
use crate::template_catalog::TemplateCatalog;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::collections::HashMap;
use tasker_shared::config::ExecutionConfig;
use tasker_shared::messaging::{queue_table, worker_queue, StepMessage};
use tasker_shared::states::{StepState, TaskState};
use uuid::Uuid;

/// The body of `POST /v1/tasks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskRequest {
    /// Template namespace.
    pub namespace: String,
    /// Template name.
    pub name: String,
    /// Template version; the newest when omitted.
    #[serde(default)]
    pub version: Option<String>,
    /// Input of the task, checked against the template's input schema.
    #[serde(default = "empty_object")]
    pub context: serde_json::Value,
    /// Higher runs sooner (informational for now).
    #[serde(default)]
    pub priority: Option<i32>,
    /// A key that makes creation idempotent per template.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Caller's correlation id.
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// Free-form tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Who asked.
    #[serde(default)]
    pub initiator: Option<String>,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

/// A created (or, for a reused idempotency key, found) task.
pub struct Created {
    /// The task.
    pub task: TaskView,
    /// False when an existing task was returned for the idempotency key.
    pub created: bool,
}

/// Create a task from a request.
pub async fn create_task(
    pool: &PgPool,
    catalog: &TemplateCatalog,
    defaults: &ExecutionConfig,
    request: CreateTaskRequest,
) -> Result<Created> {
    let compiled = catalog.find(&request.namespace, &request.name, request.version.as_deref()).await?;
    compiled.validate_context(&request.context)?;
    let template = &compiled.template;

    let task_uuid = Uuid::now_v7();
    let ordered = template.topological_order();
    let step_uuids: HashMap<&str, Uuid> = ordered.iter().map(|s| (s.name.as_str(), Uuid::now_v7())).collect();

    let mut cols = StepColumns::default();
    let mut roots = Vec::new();
    for (position, step) in ordered.iter().enumerate() {
        let uuid = step_uuids[step.name.as_str()];
        let retry = step.retry.clone().unwrap_or_default();
        let state = if step.depends_on.is_empty() { StepState::Enqueued } else { StepState::Pending };
        if step.depends_on.is_empty() {
            roots.push(
                serde_json::to_value(StepMessage { task_uuid, step_uuid: uuid })
                    .map_err(tasker_shared::TaskerError::from)?,
            );
        }
        let parents: Vec<String> = step.depends_on.iter().map(|d| step_uuids[d.as_str()].to_string()).collect();
        cols.depends_on.push(format!("{{{}}}", parents.join(",")));
        cols.uuids.push(uuid);
        cols.names.push(step.name.clone());
        cols.handlers.push(step.handler.clone());
        cols.positions.push(position as i32);
        cols.states.push(state.as_str().to_string());
        cols.max_attempts.push(retry.max_attempts.unwrap_or(defaults.default_max_attempts) as i32);
        cols.base_ms.push(retry.base_ms.unwrap_or(defaults.default_backoff_base_ms).min(i32::MAX as u64) as i32);
        cols.max_ms.push(retry.max_ms.unwrap_or(defaults.default_backoff_max_ms).min(i32::MAX as u64) as i32);
        cols.timeouts.push(step.timeout_seconds.unwrap_or(defaults.default_timeout_seconds) as i32);
        cols.configs.push(step.config.clone().unwrap_or_else(empty_object));
    }

    let sql =
        include_str!("sql/create_task.sql").replace("{queue_table}", &queue_table(&worker_queue(&template.namespace)));
    let inserted: Option<(chrono::DateTime<chrono::Utc>,)> = sqlx::query_as(&sql)
        .bind(task_uuid)
        .bind(compiled.template_id)
        .bind(&template.namespace)
        .bind(&template.name)
        .bind(&template.version)
        .bind(TaskState::StepsInProcess.as_str())
        .bind(&request.context)
        .bind(request.priority.unwrap_or(0))
        .bind(&request.idempotency_key)
        .bind(&request.correlation_id)
        .bind(serde_json::json!(request.tags.clone().unwrap_or_default()))
        .bind(&request.initiator)
        .bind(&cols.uuids)
        .bind(&cols.names)
        .bind(&cols.handlers)
        .bind(&cols.positions)
        .bind(&cols.states)
        .bind(&cols.max_attempts)
        .bind(&cols.base_ms)
        .bind(&cols.max_ms)
        .bind(&cols.timeouts)
        .bind(&cols.configs)
        .bind(&cols.depends_on)
        .bind(&roots)
        .fetch_optional(pool)
        .await?;
    let Some((created_at,)) = inserted else {
        // The idempotency key was used before (possibly by a concurrent request that has now committed).
        let key = request.idempotency_key.as_deref().unwrap_or_default();
        let existing: Uuid =
            sqlx::query_scalar("SELECT task_uuid FROM tasker.tasks WHERE template_id = $1 AND idempotency_key = $2")
                .bind(compiled.template_id)
                .bind(key)
                .fetch_one(pool)
                .await?;
        return Ok(Created { task: task_query::get_task(pool, existing).await?, created: false });
    };
    metrics::counter!("tasker_tasks_created_total", "namespace" => template.namespace.clone()).increment(1);

    let steps = (0..cols.uuids.len())
        .map(|i| StepView {
            step_uuid: cols.uuids[i],
            name: cols.names[i].clone(),
            handler: cols.handlers[i].clone(),
            state: cols.states[i].clone(),
            attempts: 0,
            max_attempts: cols.max_attempts[i],
            result: None,
            error: None,
            completed_at: None,
        })
        .collect();
    let task = TaskView {
        task_uuid,
        namespace: template.namespace.clone(),
        name: template.name.clone(),
        version: template.version.clone(),
        state: TaskState::StepsInProcess.as_str().to_string(),
        context: request.context,
        priority: request.priority.unwrap_or(0),
        idempotency_key: request.idempotency_key,
        correlation_id: request.correlation_id,
        tags: request.tags.unwrap_or_default(),
        created_at,
        completed_at: None,
        steps,
    };
    Ok(Created { task, created: true })
}

/// Step rows as parallel arrays, bound to one `unnest` insert.
#[derive(Default)]
struct StepColumns {
    uuids: Vec<Uuid>,
    names: Vec<String>,
    handlers: Vec<String>,
    positions: Vec<i32>,
    states: Vec<String>,
    max_attempts: Vec<i32>,
    base_ms: Vec<i32>,
    max_ms: Vec<i32>,
    timeouts: Vec<i32>,
    configs: Vec<serde_json::Value>,
    /// PostgreSQL array literals of the parents' uuids (`{}` for a root step).
    depends_on: Vec<String>,
}
