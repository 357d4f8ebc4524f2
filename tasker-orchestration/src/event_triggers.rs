//! Events that start tasks. An event (`name`, `key`, `payload`) is written to the `tasker.emitted_events`
//! outbox, by `POST /v1/events` or by `tasker.emit_event(...)` inside an application's own transaction (so it
//! exists only if that transaction commits). Each event is then turned, once, into one task per template whose
//! newest version lists the event in `triggers:`, with the payload as context and the idempotency key
//! `event:<event_id>`; a payload a template's schema refuses is recorded as rejected for that template. A server
//! claims the event for a while (`claimed_until`) to turn it into tasks, so with several servers each event is
//! handled by one of them, and its outcome is stored for a repeat of the same key.

use crate::error::{OrchestrationError, Result};
use crate::task_initializer::{create_task, CreateTaskRequest};
use crate::task_writer::TaskWriter;
use crate::template_catalog::TemplateCatalog;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::time::Duration;
use tasker_shared::config::ExecutionConfig;
use uuid::Uuid;

/// How long a server holds an event while it creates its tasks; a claim left by a crash is taken again after it.
const CLAIM: Duration = Duration::from_secs(30);

/// The body of `POST /v1/events`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmitEvent {
    /// The event name templates subscribe to (`order.created`).
    pub name: String,
    /// Deduplication key: the same key again is the same event (one namespace with `tasker.emit_event`).
    pub key: String,
    /// The context of the tasks it starts.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub payload: Option<serde_json::Value>,
}

/// A template that refused an event's payload.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rejected {
    pub namespace: String,
    pub name: String,
    pub error: String,
}

/// What an event started.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventOutcome {
    pub event_id: Uuid,
    /// One task per subscribed template that took the payload.
    pub tasks: Vec<Uuid>,
    /// The subscribed templates whose input schema refused the payload.
    pub rejected: Vec<Rejected>,
}

/// What turning events into tasks needs of the server.
pub struct Triggers<'a> {
    pub pool: &'a PgPool,
    pub catalog: &'a TemplateCatalog,
    pub writer: &'a TaskWriter,
    pub execution: &'a ExecutionConfig,
}

fn invalid(field: &str, message: &str) -> OrchestrationError {
    OrchestrationError::Invalid { field: field.into(), message: message.into() }
}

impl Triggers<'_> {
    /// Emit `event` and turn it into tasks now. Returns whether the key was new, and the outcome (for a key seen
    /// before, the stored one). The same key with another name or payload is a conflict.
    pub async fn emit(&self, event: EmitEvent) -> Result<(bool, EventOutcome)> {
        if event.name.trim().is_empty() || event.name.len() > 200 {
            return Err(invalid("name", "must be 1-200 characters"));
        }
        if event.key.is_empty() || event.key.len() > 500 {
            return Err(invalid("key", "must be 1-500 characters"));
        }
        let payload = event.payload.unwrap_or_else(|| serde_json::json!({}));
        if !payload.is_object() {
            return Err(invalid("payload", "must be a JSON object (it becomes the tasks' context)"));
        }
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO tasker.emitted_events (name, key, payload) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO NOTHING RETURNING event_id",
        )
        .bind(&event.name)
        .bind(&event.key)
        .bind(&payload)
        .fetch_optional(self.pool)
        .await?;
        let event_id = match inserted {
            Some(id) => id,
            None => {
                let (id, name, stored): (Uuid, String, serde_json::Value) =
                    sqlx::query_as("SELECT event_id, name, payload FROM tasker.emitted_events WHERE key = $1")
                        .bind(&event.key)
                        .fetch_one(self.pool)
                        .await?;
                if name != event.name || stored != payload {
                    return Err(OrchestrationError::Conflict(format!(
                        "event key `{}` was used for another event ({id})",
                        event.key
                    )));
                }
                id
            }
        };
        let outcome = self.process(event_id, true).await?.expect("the event exists");
        Ok((inserted.is_some(), outcome))
    }

    /// Turn up to `batch` waiting events (emitted from SQL, or left by a server that died) into tasks; returns how
    /// many were handled.
    pub async fn process_waiting(&self, batch: u32) -> Result<usize> {
        let waiting: Vec<Uuid> = sqlx::query_scalar(
            "SELECT event_id FROM tasker.emitted_events
             WHERE processed_at IS NULL AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
             ORDER BY emitted_at LIMIT $1",
        )
        .bind(batch as i32)
        .fetch_all(self.pool)
        .await?;
        let mut handled = 0;
        for event_id in &waiting {
            handled += usize::from(self.process(*event_id, false).await?.is_some());
        }
        Ok(handled)
    }

    /// Claim event `event_id` (for [`CLAIM`]) and, unless done already, start its tasks and store the outcome; returns
    /// the outcome. While another server holds the claim: with `wait`, wait for its outcome; without, `None`. No
    /// transaction is held while the tasks are created (each creation takes its own pooled connection); a claim
    /// left by a crash expires, and the tasks' idempotency keys (`event:<id>`) keep a retry from starting them twice.
    async fn process(&self, event_id: Uuid, wait: bool) -> Result<Option<EventOutcome>> {
        let deadline = tokio::time::Instant::now() + CLAIM;
        loop {
            let claimed: Option<(String, serde_json::Value)> = sqlx::query_as(
                "UPDATE tasker.emitted_events SET claimed_until = clock_timestamp() + make_interval(secs => $2)
                 WHERE event_id = $1 AND processed_at IS NULL
                   AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
                 RETURNING name, payload",
            )
            .bind(event_id)
            .bind(CLAIM.as_secs_f64())
            .fetch_optional(self.pool)
            .await?;
            if let Some((name, payload)) = claimed {
                let outcome = self.start_tasks(event_id, &name, &payload).await?;
                sqlx::query(
                    "UPDATE tasker.emitted_events SET processed_at = now(), outcome = $2, claimed_until = NULL
                     WHERE event_id = $1 AND processed_at IS NULL",
                )
                .bind(event_id)
                .bind(serde_json::to_value(&outcome).map_err(tasker_shared::TaskerError::from)?)
                .execute(self.pool)
                .await?;
                metrics::counter!("tasker_events_processed_total").increment(1);
                metrics::counter!("tasker_event_tasks_started_total").increment(outcome.tasks.len() as u64);
                return Ok(Some(outcome));
            }
            let stored: Option<Option<serde_json::Value>> =
                sqlx::query_scalar("SELECT outcome FROM tasker.emitted_events WHERE event_id = $1")
                    .bind(event_id)
                    .fetch_optional(self.pool)
                    .await?;
            match stored {
                None => return Ok(None),
                Some(Some(outcome)) => {
                    return Ok(Some(serde_json::from_value(outcome).map_err(tasker_shared::TaskerError::from)?))
                }
                Some(None) if !wait || tokio::time::Instant::now() >= deadline => return Ok(None),
                Some(None) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    }

    /// Start one task per template subscribed to event `name`. A template that refuses the payload, or cannot take
    /// it for another lasting reason (retired, a conflicting key), is listed as rejected, so one bad event never
    /// holds up the others.
    async fn start_tasks(&self, event_id: Uuid, name: &str, payload: &serde_json::Value) -> Result<EventOutcome> {
        let subscribed: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT namespace, name FROM tasker.task_templates
             WHERE active AND definition->'triggers' @> jsonb_build_array(jsonb_build_object('event', $1::text))
             ORDER BY namespace, name",
        )
        .bind(name)
        .fetch_all(self.pool)
        .await?;
        let mut outcome = EventOutcome { event_id, tasks: Vec::new(), rejected: Vec::new() };
        for (namespace, template) in subscribed {
            let compiled = match self.catalog.find(&namespace, &template, None).await {
                Ok(compiled) => compiled,
                Err(e @ OrchestrationError::TemplateNotFound { .. }) => {
                    outcome.rejected.push(Rejected { namespace, name: template, error: e.to_string() });
                    continue;
                }
                Err(e) => return Err(e),
            };
            // The newest version decides whether the template still subscribes.
            let Some(trigger) = compiled.template.triggers.iter().find(|t| t.event == name) else { continue };
            let request = CreateTaskRequest {
                namespace: namespace.clone(),
                name: template.clone(),
                version: None,
                context: payload.clone(),
                priority: trigger.priority,
                run_at: None,
                idempotency_key: Some(format!("event:{event_id}")),
                correlation_id: None,
                tags: None,
                initiator: Some(format!("event:{name}")),
            };
            match create_task(self.pool, self.writer, self.catalog, self.execution, request).await {
                Ok(created) => outcome.tasks.push(created.task.task_uuid),
                Err(
                    e @ (OrchestrationError::InvalidContext { .. }
                    | OrchestrationError::TemplateNotFound { .. }
                    | OrchestrationError::IdempotencyConflict { .. }
                    | OrchestrationError::Invalid { .. }),
                ) => outcome.rejected.push(Rejected { namespace, name: template, error: e.to_string() }),
                Err(e) => return Err(e),
            }
        }
        Ok(outcome)
    }
}
