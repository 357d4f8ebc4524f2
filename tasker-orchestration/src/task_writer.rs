//! Writing new tasks, coalesced: concurrent `POST /v1/tasks` requests hand their prepared rows to one writer,
//! which inserts whatever is waiting (up to a limit) in ONE statement (`sql/create_tasks.sql`), so that a burst
//! of submissions costs one round trip and one commit per batch instead of per task. It never waits to fill a
//! batch: a lone request is written at once, as its own batch.
//!
//! A batch is atomic. If it fails as a whole (one task's data rejected by PostgreSQL, say), every task of it is
//! written again on its own, so that each request gets its own outcome and one bad task fails only itself.

use crate::error::Result;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use tasker_shared::config::ExecutionConfig;
use tasker_shared::messaging::{index_queues, notify_channel, queue_table};
use tasker_shared::template::StepTemplate;
use tokio::sync::{mpsc, oneshot, Mutex};
use uuid::Uuid;

/// Most tasks written in one statement.
const MAX_BATCH: usize = 64;

/// Statements in flight at once: while one batch waits for its commit, the next one is being written.
const WRITERS: usize = 2;

/// One step row of a new task.
#[derive(Debug, Clone)]
pub struct NewStep {
    pub step_uuid: Uuid,
    pub name: String,
    pub handler: String,
    pub position: i32,
    pub state: String,
    pub max_attempts: i32,
    pub backoff_base_ms: i32,
    pub backoff_max_ms: i32,
    pub timeout_seconds: i32,
    pub config: Value,
    /// The parents' uuids as a PostgreSQL array literal (`{}` for a root step).
    pub depends_on: String,
    /// The step's queue when it is not the namespace.
    pub queue: Option<String>,
    /// The steps above its dependencies (ancestors that are not parents) as an array literal; `None` when none.
    pub upstream: Option<String>,
    /// The step's type when it is not `standard` (`workflow_steps.kind`).
    pub kind: Option<&'static str>,
    /// The key of the step's rate limit bucket (`workflow_steps.rate_key`).
    pub rate_key: Option<String>,
}

impl NewStep {
    /// The row of template step `step` of a task in `namespace`, named `name` (a batch instance's name differs
    /// from its template's), with the configured defaults for what the template leaves unset.
    pub fn from_template(
        step: &StepTemplate,
        namespace: &str,
        defaults: &ExecutionConfig,
        (step_uuid, name, position): (Uuid, String, i32),
        state: &str,
        depends_on: &[Uuid],
        upstream: &[Uuid],
    ) -> Self {
        let retry = step.retry.clone().unwrap_or_default();
        Self {
            step_uuid,
            name,
            handler: step.handler.clone(),
            position,
            state: state.to_string(),
            max_attempts: retry.max_attempts.unwrap_or(defaults.default_max_attempts) as i32,
            backoff_base_ms: retry.base_ms.unwrap_or(defaults.default_backoff_base_ms).min(i32::MAX as u64) as i32,
            backoff_max_ms: retry.max_ms.unwrap_or(defaults.default_backoff_max_ms).min(i32::MAX as u64) as i32,
            timeout_seconds: step.timeout_seconds.unwrap_or(defaults.default_timeout_seconds) as i32,
            config: step.config.clone().unwrap_or_else(|| serde_json::json!({})),
            depends_on: uuid_array(depends_on),
            queue: step.queue.clone().filter(|q| q != namespace),
            upstream: (!upstream.is_empty()).then(|| uuid_array(upstream)),
            kind: step.step_type.kind(),
            rate_key: step.rate_limit.as_ref().map(|r| r.key.clone()),
        }
    }
}

/// A PostgreSQL array literal of `uuids`.
pub(crate) fn uuid_array(uuids: &[Uuid]) -> String {
    format!("{{{}}}", uuids.iter().map(Uuid::to_string).collect::<Vec<_>>().join(","))
}

/// A validated task, ready to insert: its row, its steps, and the messages of its root steps.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub task_uuid: Uuid,
    pub template_id: i64,
    pub namespace: String,
    pub name: String,
    pub version: String,
    pub state: String,
    pub context: Value,
    pub priority: i32,
    /// When a `scheduled` task starts.
    pub run_at: Option<DateTime<Utc>>,
    pub idempotency_key: Option<String>,
    pub correlation_id: Option<String>,
    pub tags: Value,
    pub initiator: Option<String>,
    pub steps: Vec<NewStep>,
    /// Every queue of the task's steps when one is not the namespace (`tasks.queues`).
    pub queues: Option<Vec<String>>,
    /// The root steps' message bodies, each with its pgmq queue.
    pub root_messages: Vec<(Value, String)>,
    /// The task's concurrency limits, when its template has some.
    pub limits: Option<TaskSlot>,
}

/// What a task of a template with concurrency limits carries (`tasks.concurrency_*`, `concurrency.rs`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TaskSlot {
    /// `namespace/name` of the template.
    pub gate: String,
    /// The task's value of the keyed limit's key.
    pub key: Option<String>,
    /// Most tasks of the template running at once.
    pub max_running: Option<i32>,
    /// Most tasks with the same key value running at once.
    pub max_running_per_key: Option<i32>,
}

/// When the task was created; `None` when its idempotency key was already taken.
pub type Written = Option<DateTime<Utc>>;

struct Job {
    task: NewTask,
    reply: oneshot::Sender<Result<Written>>,
}

/// Hands new tasks to the writer. Cheap to clone; the writer stops when every clone is dropped.
#[derive(Clone)]
pub struct TaskWriter {
    jobs: mpsc::Sender<Job>,
    priority_step: f64,
}

impl TaskWriter {
    /// Start the writer on `pool`; `priority_step`: seconds per priority level in the step queues
    /// (`SchedulingConfig::priority_step_seconds`).
    pub fn start(pool: PgPool, priority_step: f64) -> Self {
        let (jobs, rx) = mpsc::channel(MAX_BATCH * 4);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..WRITERS {
            tokio::spawn(run(pool.clone(), rx.clone(), priority_step));
        }
        Self { jobs, priority_step }
    }

    /// Seconds per priority level in the step queues (what tasks started outside the writer use too).
    pub fn priority_step(&self) -> f64 {
        self.priority_step
    }

    /// Write `task` (with whatever other tasks are waiting) and say when it was created.
    pub async fn write(&self, task: NewTask) -> Result<Written> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { task, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The writer is gone only when the server shuts down: answer as the database being unavailable (503).
fn stopped() -> crate::error::OrchestrationError {
    sqlx::Error::PoolClosed.into()
}

async fn run(pool: PgPool, rx: Arc<Mutex<mpsc::Receiver<Job>>>, priority_step: f64) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        let tasks: Vec<&NewTask> = batch.iter().map(|j| &j.task).collect();
        match insert(&pool, &tasks, priority_step).await {
            Ok(created) => {
                for job in batch.drain(..) {
                    let _ = job.reply.send(Ok(created.get(&job.task.task_uuid).copied()));
                }
            }
            Err(e) if batch.len() == 1 => {
                let job = batch.pop().expect("one job");
                let _ = job.reply.send(Err(e));
            }
            Err(_) => {
                for job in batch.drain(..) {
                    let outcome =
                        insert(&pool, &[&job.task], priority_step).await.map(|c| c.get(&job.task.task_uuid).copied());
                    let _ = job.reply.send(outcome);
                }
            }
        }
    }
}

/// Insert `tasks` in one statement; returns the created ones with their creation time.
async fn insert(pool: &PgPool, tasks: &[&NewTask], priority_step: f64) -> Result<HashMap<Uuid, DateTime<Utc>>> {
    let queues = index_queues(tasks.iter().flat_map(|t| t.root_messages.iter().map(|(_, q)| q.as_str())));
    let sends: String = queues
        .iter()
        .map(|(queue, ix)| {
            format!(
                ", sent_{ix} AS (INSERT INTO {} (vt, message) SELECT visible_at, body FROM roots \
                 WHERE queue_ix = {ix})",
                queue_table(queue)
            )
        })
        .collect();
    let sql = include_str!("sql/create_tasks.sql").replace("{sends}", &sends);

    let steps: Vec<(Uuid, &NewStep)> = tasks.iter().flat_map(|t| t.steps.iter().map(|s| (t.task_uuid, s))).collect();
    let roots: Vec<(Uuid, &Value, i32)> =
        tasks.iter().flat_map(|t| t.root_messages.iter().map(|(m, q)| (t.task_uuid, m, queues[q.as_str()]))).collect();
    let created: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(&sql)
        .bind(tasks.iter().map(|t| t.task_uuid).collect::<Vec<_>>())
        .bind(tasks.iter().map(|t| t.template_id).collect::<Vec<_>>())
        .bind(tasks.iter().map(|t| t.namespace.as_str()).collect::<Vec<_>>())
        .bind(tasks.iter().map(|t| t.name.as_str()).collect::<Vec<_>>())
        .bind(tasks.iter().map(|t| t.version.as_str()).collect::<Vec<_>>())
        .bind(tasks.iter().map(|t| t.state.as_str()).collect::<Vec<_>>())
        .bind(tasks.iter().map(|t| t.context.clone()).collect::<Vec<_>>())
        .bind(tasks.iter().map(|t| t.priority).collect::<Vec<_>>())
        .bind(tasks.iter().map(|t| t.idempotency_key.as_deref()).collect::<Vec<_>>())
        .bind(tasks.iter().map(|t| t.correlation_id.as_deref()).collect::<Vec<_>>())
        .bind(tasks.iter().map(|t| t.tags.clone()).collect::<Vec<_>>())
        .bind(tasks.iter().map(|t| t.initiator.as_deref()).collect::<Vec<_>>())
        .bind(tasks.iter().map(|t| t.queues.as_ref().map(|q| format!("{{{}}}", q.join(",")))).collect::<Vec<_>>())
        .bind(steps.iter().map(|(t, _)| *t).collect::<Vec<_>>())
        .bind(steps.iter().map(|(_, s)| s.step_uuid).collect::<Vec<_>>())
        .bind(steps.iter().map(|(_, s)| s.name.as_str()).collect::<Vec<_>>())
        .bind(steps.iter().map(|(_, s)| s.handler.as_str()).collect::<Vec<_>>())
        .bind(steps.iter().map(|(_, s)| s.position).collect::<Vec<_>>())
        .bind(steps.iter().map(|(_, s)| s.state.as_str()).collect::<Vec<_>>())
        .bind(steps.iter().map(|(_, s)| s.max_attempts).collect::<Vec<_>>())
        .bind(steps.iter().map(|(_, s)| s.backoff_base_ms).collect::<Vec<_>>())
        .bind(steps.iter().map(|(_, s)| s.backoff_max_ms).collect::<Vec<_>>())
        .bind(steps.iter().map(|(_, s)| s.timeout_seconds).collect::<Vec<_>>())
        .bind(steps.iter().map(|(_, s)| s.config.clone()).collect::<Vec<_>>())
        .bind(steps.iter().map(|(_, s)| s.depends_on.as_str()).collect::<Vec<_>>())
        .bind(steps.iter().map(|(_, s)| s.queue.as_deref()).collect::<Vec<_>>())
        .bind(steps.iter().map(|(_, s)| s.upstream.as_deref()).collect::<Vec<_>>())
        .bind(roots.iter().map(|(t, _, _)| *t).collect::<Vec<_>>())
        .bind(roots.iter().map(|(_, m, _)| (*m).clone()).collect::<Vec<_>>())
        .bind(roots.iter().map(|(_, _, q)| *q).collect::<Vec<_>>())
        .bind(queues.keys().map(|q| notify_channel(q)).collect::<Vec<_>>())
        .bind(steps.iter().map(|(_, s)| s.kind).collect::<Vec<_>>())
        .bind(tasks.iter().map(|t| t.run_at).collect::<Vec<_>>())
        .bind(priority_step)
        .bind(tasks.iter().map(|t| t.limits.as_ref().map(|l| l.gate.as_str())).collect::<Vec<_>>())
        .bind(tasks.iter().map(|t| t.limits.as_ref().and_then(|l| l.key.as_deref())).collect::<Vec<_>>())
        .bind(tasks.iter().map(|t| t.limits.as_ref().and_then(|l| l.max_running)).collect::<Vec<_>>())
        .bind(tasks.iter().map(|t| t.limits.as_ref().and_then(|l| l.max_running_per_key)).collect::<Vec<_>>())
        .bind(steps.iter().map(|(_, s)| s.rate_key.as_deref()).collect::<Vec<_>>())
        .fetch_all(pool)
        .await?;
    Ok(created.into_iter().collect())
}
