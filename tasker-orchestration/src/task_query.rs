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
    /// Priority.
    pub priority: i32,
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
    /// Steps in dependency order.
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
}

const TASK_COLUMNS: &str = "task_uuid, namespace, name, version, state, context, priority, idempotency_key, \
                            correlation_id, tags, created_at, completed_at";

/// One task with its steps.
pub async fn get_task(pool: &PgPool, task_uuid: Uuid) -> Result<TaskView> {
    let mut task: TaskView = sqlx::query_as(&format!("SELECT {TASK_COLUMNS} FROM tasker.tasks WHERE task_uuid = $1"))
        .bind(task_uuid)
        .fetch_optional(pool)
        .await?
        .ok_or(OrchestrationError::TaskNotFound(task_uuid))?;
    task.steps = get_steps(pool, task_uuid).await?;
    Ok(task)
}

/// The steps of a task, in dependency order.
pub async fn get_steps(pool: &PgPool, task_uuid: Uuid) -> Result<Vec<StepView>> {
    Ok(sqlx::query_as(
        "SELECT s.step_uuid, s.name, s.handler,
                COALESCE(s.queue, (SELECT t.namespace FROM tasker.tasks t WHERE t.task_uuid = $1)) AS queue, s.state, s.attempts, s.max_attempts, s.results AS result, s.error,
                s.completed_at, op.reason
         FROM tasker.workflow_steps s
         LEFT JOIN LATERAL (
             -- Only operator actions make these transitions (see task_actions.rs).
             SELECT t.reason FROM tasker.step_transitions t
             WHERE t.step_uuid = s.step_uuid
               AND (t.to_state IN ('cancelled', 'resolved_manually') OR (t.from_state = 'error' AND t.to_state = 'enqueued'))
             ORDER BY t.id DESC LIMIT 1
         ) op ON true
         WHERE s.task_uuid = $1 ORDER BY s.position",
    )
    .bind(task_uuid)
    .fetch_all(pool)
    .await?)
}

/// Filters and page of `GET /v1/tasks`.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only this state.
    pub state: Option<String>,
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
    if let Some(state) = &filter.state {
        query.push(" AND state = ").push_bind(state);
    }
    if let Some(cursor) = filter.cursor {
        query.push(" AND task_uuid < ").push_bind(cursor);
    }
    query.push(" ORDER BY task_uuid DESC LIMIT ").push_bind(filter.limit + 1);
    let tasks: Vec<TaskView> = query.build_query_as().fetch_all(pool).await?;
    let mut tasks = tasks;
    let next = if tasks.len() as i64 > filter.limit {
        tasks.truncate(filter.limit as usize);
        tasks.last().map(|t| t.task_uuid)
    } else {
        None
    };
    Ok((tasks, next))
}
