//! Reading tasks for the API: one task with its steps, and keyset-paginated listings.

use crate::error::{OrchestrationError, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

/// A task as the API serves it.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct TaskView {
    /// Task id (UUIDv7).
    pub task_uuid: Uuid,
    /// Template namespace.
    pub namespace: String,
    /// Template name.
    pub name: String,
    /// Template version.
    pub version: String,
    /// Task state (`steps_in_process`, `complete`, `error`, …).
    pub state: String,
    /// The task's input.
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
    /// Priority: 1 (lowest) to 5 (highest).
    pub priority: i32,
    /// When a `scheduled` task starts (null when it started at creation).
    pub run_at: Option<DateTime<Utc>>,
    /// Idempotency key, if given.
    pub idempotency_key: Option<String>,
    /// Correlation id, if given.
    pub correlation_id: Option<String>,
    /// Tags.
    #[sqlx(json)]
    pub tags: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When the task reached a terminal state.
    pub completed_at: Option<DateTime<Utc>>,
    /// How many of its steps are in each state (`{"complete": 3, "in_progress": 1}`).
    #[sqlx(skip)]
    #[schema(value_type = Object)]
    pub step_counts: std::collections::BTreeMap<String, i64>,
    /// Steps in dependency order (empty in listings).
    #[sqlx(skip)]
    pub steps: Vec<StepView>,
}

/// A step as the API serves it.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct StepView {
    /// Step id.
    pub step_uuid: Uuid,
    /// Step name from the template.
    pub name: String,
    /// Handler name.
    pub handler: String,
    /// `standard`, `decision`, `batchable`, `batch_worker` (a batch instance) or `convergence`.
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub step_type: String,
    /// The steps it waits for, by name (for a convergence step: those that exist, or the dynamic step that
    /// decides them).
    pub depends_on: Vec<String>,
    /// A batch worker instance's work item, with its `index`; null for other steps.
    #[schema(value_type = Option<Object>)]
    pub batch: Option<serde_json::Value>,
    /// The queue its messages go to (its template `queue`, or the namespace).
    pub queue: String,
    /// Step state.
    pub state: String,
    /// Attempts started so far.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Exactly the JSON the handler returned.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// The last error (`message`, `retryable`, `error_class`, `backtrace`, …).
    #[schema(value_type = Option<Object>)]
    pub error: Option<serde_json::Value>,
    /// When the step reached a terminal state.
    pub completed_at: Option<DateTime<Utc>>,
    /// The reason given with the last operator action on the step (cancel, retry, resolve); null when none.
    pub reason: Option<String>,
    /// When its latest attempt started (its last claim); null before the first.
    pub started_at: Option<DateTime<Utc>>,
    /// When a step waiting for a retry becomes due; null otherwise.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The worker that claimed it last (`worker_id`, see `GET /v1/workers`); null before the first claim.
    pub worker_id: Option<String>,
    /// The last checkpoint the step saved (kept after it completes); null when none.
    #[schema(value_type = Option<Object>)]
    pub checkpoint: Option<serde_json::Value>,
    /// The error of every failed attempt, oldest first (`error` is the last one).
    #[sqlx(json)]
    #[schema(value_type = Vec<Object>)]
    pub attempt_errors: Vec<serde_json::Value>,
}

const TASK_COLUMNS: &str = "task_uuid, namespace, name, version, state, context, priority, run_at, idempotency_key, \
                            correlation_id, tags, created_at, completed_at";

/// One task with its steps.
pub async fn get_task(pool: &PgPool, task_uuid: Uuid) -> Result<TaskView> {
    let mut task: TaskView = sqlx::query_as(&format!("SELECT {TASK_COLUMNS} FROM tasker.tasks WHERE task_uuid = $1"))
        .bind(task_uuid)
        .fetch_optional(pool)
        .await?
        .ok_or(OrchestrationError::TaskNotFound(task_uuid))?;
    task.steps = get_steps(pool, task_uuid).await?;
    for step in &task.steps {
        *task.step_counts.entry(step.state.clone()).or_default() += 1;
    }
    Ok(task)
}

/// The steps of a task, in dependency order.
pub async fn get_steps(pool: &PgPool, task_uuid: Uuid) -> Result<Vec<StepView>> {
    Ok(sqlx::query_as(include_str!("sql/task_steps.sql")).bind(task_uuid).fetch_all(pool).await?)
}

/// Filters and page of `GET /v1/tasks`.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only this template name.
    pub name: Option<String>,
    /// Only this state.
    pub state: Option<String>,
    /// Only tasks carrying this tag.
    pub tag: Option<String>,
    /// Only tasks created at or after this time.
    pub created_after: Option<DateTime<Utc>>,
    /// Only tasks created before this time.
    pub created_before: Option<DateTime<Utc>>,
    /// Tasks older than this one (the previous page's `next_cursor`).
    pub cursor: Option<Uuid>,
    /// Page size.
    pub limit: i64,
}

/// A page of tasks (without steps), newest first, and the cursor of the next page. The statement names only the
/// filters given, so each combination has its own prepared statement whose (generic, see `db::connect`) plan can
/// use `tasks_namespace_idx` and start at the cursor; `($1 IS NULL OR namespace = $1)` would filter row by row.
pub async fn list_tasks(pool: &PgPool, filter: &TaskFilter) -> Result<(Vec<TaskView>, Option<Uuid>)> {
    let mut query = QueryBuilder::<Postgres>::new(format!("SELECT {TASK_COLUMNS} FROM tasker.tasks WHERE true"));
    if let Some(namespace) = &filter.namespace {
        query.push(" AND namespace = ").push_bind(namespace);
    }
    if let Some(name) = &filter.name {
        query.push(" AND name = ").push_bind(name);
    }
    if let Some(state) = &filter.state {
        query.push(" AND state = ").push_bind(state);
    }
    if let Some(tag) = &filter.tag {
        query.push(" AND tags ? ").push_bind(tag);
    }
    // Task ids are UUIDv7, ordered by creation: the time bounds are bounds on the key the page walks.
    if let Some(after) = filter.created_after {
        query.push(" AND created_at >= ").push_bind(after);
    }
    if let Some(before) = filter.created_before {
        query.push(" AND created_at < ").push_bind(before);
    }
    if let Some(cursor) = filter.cursor {
        query.push(" AND task_uuid < ").push_bind(cursor);
    }
    query.push(" ORDER BY task_uuid DESC LIMIT ").push_bind(filter.limit + 1);
    let mut tasks: Vec<TaskView> = query.build_query_as().fetch_all(pool).await?;
    let uuids: Vec<Uuid> = tasks.iter().map(|t| t.task_uuid).collect();
    let counts: Vec<(Uuid, String, i64)> =
        sqlx::query_as(include_str!("sql/step_counts.sql")).bind(&uuids).fetch_all(pool).await?;
    let index: std::collections::HashMap<Uuid, usize> =
        tasks.iter().enumerate().map(|(i, t)| (t.task_uuid, i)).collect();
    for (task_uuid, state, n) in counts {
        if let Some(&i) = index.get(&task_uuid) {
            tasks[i].step_counts.insert(state, n);
        }
    }
    let next = if tasks.len() as i64 > filter.limit {
        tasks.truncate(filter.limit as usize);
        tasks.last().map(|t| t.task_uuid)
    } else {
        None
    };
    Ok((tasks, next))
}
