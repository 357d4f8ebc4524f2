//! Task creation: validate the context and prepare the rows, then have the [`TaskWriter`] insert the task and
//! its steps (each carrying its dependencies, root steps `enqueued`) and send the root steps' messages, in one
//! statement shared with whatever other creations are waiting. An idempotency key already used for the template
//! returns the existing task instead.

use crate::concurrency;
use crate::error::{OrchestrationError, Result};
use crate::task_query::{self, StepView, TaskView};
use crate::task_writer::{NewStep, NewTask, TaskSlot, TaskWriter};
use crate::template_catalog::TemplateCatalog;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::collections::BTreeSet;
use tasker_shared::config::ExecutionConfig;
use tasker_shared::messaging::{worker_queue, StepMessage};
use tasker_shared::states::{StepState, TaskState};
use tasker_shared::template::{DEFAULT_PRIORITY, PRIORITIES};
use uuid::Uuid;

/// The body of `POST /v1/tasks`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
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
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
    /// 1 (lowest) to 5 (highest); default the template's `priority`, or 3.
    #[serde(default)]
    pub priority: Option<i32>,
    /// Start the task at this time (RFC 3339): until then it waits in state `scheduled`. Absent or past: now.
    #[serde(default)]
    pub run_at: Option<chrono::DateTime<chrono::Utc>>,
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

/// The task created with idempotency key `key` under any version of template `namespace/name`, if any.
async fn task_with_key(pool: &PgPool, namespace: &str, name: &str, key: &str) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT t.task_uuid FROM tasker.tasks t
         WHERE t.template_id IN (SELECT template_id FROM tasker.task_templates WHERE namespace = $1 AND name = $2)
           AND t.idempotency_key = $3
         ORDER BY t.task_uuid
         LIMIT 1",
    )
    .bind(namespace)
    .bind(name)
    .bind(key)
    .fetch_optional(pool)
    .await?)
}

/// The answer to a request whose idempotency key names task `existing`: that task, unless the request's context
/// differs (a key reused by mistake is a conflict, not silently the other task).
async fn found_by_key(pool: &PgPool, existing: Uuid, key: &str, context: &serde_json::Value) -> Result<Created> {
    let task = task_query::get_task(pool, existing).await?;
    if &task.context != context {
        return Err(OrchestrationError::IdempotencyConflict { key: key.to_string(), task_uuid: existing });
    }
    Ok(Created { task, created: false })
}

/// Create a task from a request.
pub async fn create_task(
    pool: &PgPool,
    writer: &TaskWriter,
    catalog: &TemplateCatalog,
    defaults: &ExecutionConfig,
    request: CreateTaskRequest,
) -> Result<Created> {
    let compiled = catalog.find(&request.namespace, &request.name, request.version.as_deref()).await?;
    compiled.validate_context(&request.context)?;
    let template = &compiled.template;
    if let Some(p) = request.priority.filter(|p| !PRIORITIES.contains(p)) {
        return Err(OrchestrationError::Invalid {
            field: "priority".into(),
            message: format!("{p} is not a priority: 1 (lowest) to 5 (highest)"),
        });
    }
    let priority = request.priority.or(template.priority).unwrap_or(DEFAULT_PRIORITY);
    let limits = match &compiled.limits {
        Some(limits) => Some(TaskSlot {
            gate: format!("{}/{}", template.namespace, template.name),
            key: limits
                .key_value(&request.context)
                .map_err(|e| OrchestrationError::Invalid { field: e.field, message: e.message })?,
            max_running: limits.max_running,
            max_running_per_key: limits.keyed.as_ref().map(|(_, max)| *max),
        }),
        None => None,
    };
    // A future `run_at` creates the task `scheduled`, its root steps `pending`: the scheduler starts it then. A
    // template with concurrency limits creates it `queued`: it starts below if its gate has room.
    let run_at = request.run_at.filter(|at| *at > chrono::Utc::now());
    // A request naming no version means "the newest", which a registration can change between a request and its
    // retry (or differ between two servers' caches): its key finds a task of any version of the template first.
    if let (None, Some(key)) = (&request.version, &request.idempotency_key) {
        if let Some(existing) = task_with_key(pool, &request.namespace, &request.name, key).await? {
            return found_by_key(pool, existing, key, &request.context).await;
        }
    }
    let task_state = match (run_at, &limits) {
        (Some(_), _) => TaskState::Scheduled,
        (None, Some(_)) => TaskState::Queued,
        (None, None) => TaskState::StepsInProcess,
    };

    let task_uuid = Uuid::now_v7();
    // The steps that exist from the start (a template with dynamic steps creates the rest as it runs), each
    // with what it waits for, every step after its dependencies (planned once per template).
    let initial = &compiled.initial;
    let mut step_uuids: Vec<Uuid> = vec![Uuid::nil(); template.steps.len()];
    // Each step's ancestors, in dependency order (every parent is done before its children).
    let mut ancestors: Vec<BTreeSet<Uuid>> = vec![BTreeSet::new(); template.steps.len()];
    let mut steps = Vec::with_capacity(initial.len());
    let mut root_messages = Vec::new();
    for (position, planned) in initial.iter().enumerate() {
        let step = &template.steps[planned.index];
        let step_uuid = Uuid::now_v7();
        step_uuids[planned.index] = step_uuid;
        let parents: Vec<Uuid> = planned.depends_on.iter().map(|&d| step_uuids[d]).collect();
        let mut mine = BTreeSet::new();
        for &parent in &planned.depends_on {
            mine.insert(step_uuids[parent]);
            mine.extend(ancestors[parent].iter().copied());
        }
        let above: Vec<Uuid> = mine.iter().filter(|a| !parents.contains(a)).copied().collect();
        ancestors[planned.index] = mine;
        let root = planned.depends_on.is_empty() && task_state == TaskState::StepsInProcess;
        let state = if root { StepState::Enqueued } else { StepState::Pending };
        if root {
            let message = StepMessage { task_uuid, step_uuid };
            let body = serde_json::to_value(message).map_err(tasker_shared::TaskerError::from)?;
            root_messages.push((body, worker_queue(template.queue_of(step))));
        }
        steps.push(NewStep::from_template(
            step,
            &template.namespace,
            defaults,
            (step_uuid, step.name.clone(), position as i32),
            state.as_str(),
            &parents,
            &above,
        ));
    }
    let new_task = NewTask {
        task_uuid,
        template_id: compiled.template_id,
        namespace: template.namespace.clone(),
        name: template.name.clone(),
        version: template.version.clone(),
        state: task_state.as_str().to_string(),
        context: request.context.clone(),
        priority,
        run_at,
        idempotency_key: request.idempotency_key.clone(),
        correlation_id: request.correlation_id.clone(),
        tags: serde_json::json!(request.tags.clone().unwrap_or_default()),
        initiator: request.initiator.clone(),
        steps,
        queues: compiled.queues.clone(),
        root_messages,
        limits: limits.clone(),
    };
    let steps: Vec<StepView> = new_task
        .steps
        .iter()
        .zip(initial)
        .map(|(s, planned)| StepView {
            step_uuid: s.step_uuid,
            name: s.name.clone(),
            handler: s.handler.clone(),
            step_type: s.kind.unwrap_or("standard").to_string(),
            depends_on: planned.depends_on.iter().map(|&d| template.steps[d].name.clone()).collect(),
            batch: None,
            queue: s.queue.clone().unwrap_or_else(|| template.namespace.clone()),
            state: s.state.clone(),
            attempts: 0,
            max_attempts: s.max_attempts,
            result: None,
            error: None,
            completed_at: None,
            reason: None,
            started_at: None,
            next_attempt_at: None,
            worker_id: None,
            checkpoint: None,
            attempt_errors: Vec::new(),
        })
        .collect();

    let Some(created_at) = writer.write(new_task).await? else {
        // The idempotency key was used before (possibly by a concurrent request that has now committed).
        let key = request.idempotency_key.as_deref().unwrap_or_default();
        let existing: Uuid =
            sqlx::query_scalar("SELECT task_uuid FROM tasker.tasks WHERE template_id = $1 AND idempotency_key = $2")
                .bind(compiled.template_id)
                .bind(key)
                .fetch_one(pool)
                .await?;
        return found_by_key(pool, existing, key, &request.context).await;
    };
    metrics::counter!("tasker_tasks_created_total", "namespace" => template.namespace.clone()).increment(1);
    if let (TaskState::Queued, Some(slot)) = (task_state, &limits) {
        // The task exists: a failed admission is not the request's failure (a later admission or the scheduler's
        // pass starts it). Another server may have started it already, so the answer is read back.
        if let Err(e) = concurrency::admit_now(pool, std::slice::from_ref(&slot.gate), writer.priority_step()).await {
            tracing::warn!(%task_uuid, gate = %slot.gate, error = %e, "admission after creating a queued task failed");
        }
        return Ok(Created { task: task_query::get_task(pool, task_uuid).await?, created: true });
    }
    let task = TaskView {
        task_uuid,
        namespace: template.namespace.clone(),
        name: template.name.clone(),
        version: template.version.clone(),
        state: task_state.as_str().to_string(),
        context: request.context,
        priority,
        run_at,
        idempotency_key: request.idempotency_key,
        correlation_id: request.correlation_id,
        tags: request.tags.unwrap_or_default(),
        created_at,
        completed_at: None,
        step_counts: steps.iter().fold(std::collections::BTreeMap::new(), |mut counts, s: &StepView| {
            *counts.entry(s.state.clone()).or_insert(0) += 1;
            counts
        }),
        steps,
    };
    Ok(Created { task, created: true })
}
