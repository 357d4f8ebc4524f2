//! Events that start tasks. An event (`name`, `key`, `payload`) is written to the `tasker.emitted_events`
//! outbox, by `POST /v1/events` or by `tasker.emit_event(...)` inside an application's own transaction (so it
//! exists only if that transaction commits). Each event is then turned, once, into one task per template whose
//! newest version lists the event in `triggers:`, with the payload as context and the idempotency key
//! `event:<event_id>`; a payload a template's schema refuses is recorded as rejected for that template. The event's
//! row is locked while it is turned into tasks, so with several servers each event is handled by one of them, and
//! its outcome is stored for a repeat of the same key.

use crate::error::{OrchestrationError, Result};
use crate::task_initializer::{create_task, CreateTaskRequest};
use crate::task_writer::TaskWriter;
use crate::template_catalog::TemplateCatalog;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use tasker_shared::config::ExecutionConfig;
use uuid::Uuid;

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
        let mut tx = self.pool.begin().await?;
        let outcome = self.process(&mut tx, event_id).await?;
        tx.commit().await?;
        Ok((inserted.is_some(), outcome.expect("the event exists")))
    }

    /// Turn up to `batch` waiting events (emitted from SQL, or left by a server that died) into tasks; returns how
    /// many were handled.
    pub async fn process_waiting(&self, batch: u32) -> Result<usize> {
        let mut tx = self.pool.begin().await?;
        let waiting: Vec<Uuid> = sqlx::query_scalar(
            "SELECT event_id FROM tasker.emitted_events WHERE processed_at IS NULL
             ORDER BY emitted_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(batch as i32)
        .fetch_all(&mut *tx)
        .await?;
        for event_id in &waiting {
            self.process(&mut tx, *event_id).await?;
        }
        tx.commit().await?;
        Ok(waiting.len())
    }

    /// Lock event `event_id` and, unless done already, start its tasks and store the outcome; returns the outcome
    /// (`None` for an unknown event).
    async fn process(&self, tx: &mut PgConnection, event_id: Uuid) -> Result<Option<EventOutcome>> {
        let row: Option<(String, serde_json::Value, Option<serde_json::Value>)> =
            sqlx::query_as("SELECT name, payload, outcome FROM tasker.emitted_events WHERE event_id = $1 FOR UPDATE")
                .bind(event_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((name, payload, stored)) = row else { return Ok(None) };
        if let Some(stored) = stored {
            return Ok(Some(serde_json::from_value(stored).map_err(tasker_shared::TaskerError::from)?));
        }
        let subscribed: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT namespace, name FROM tasker.task_templates
             WHERE active AND definition->'triggers' @> jsonb_build_array(jsonb_build_object('event', $1::text))
             ORDER BY namespace, name",
        )
        .bind(&name)
        .fetch_all(&mut *tx)
        .await?;
        let mut outcome = EventOutcome { event_id, tasks: Vec::new(), rejected: Vec::new() };
        for (namespace, template) in subscribed {
            let compiled = self.catalog.find(&namespace, &template, None).await?;
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
                Err(e @ OrchestrationError::InvalidContext { .. }) => {
                    outcome.rejected.push(Rejected { namespace, name: template, error: e.to_string() })
                }
                Err(e) => return Err(e),
            }
        }
        sqlx::query("UPDATE tasker.emitted_events SET processed_at = now(), outcome = $2 WHERE event_id = $1")
            .bind(event_id)
            .bind(serde_json::to_value(&outcome).map_err(tasker_shared::TaskerError::from)?)
            .execute(&mut *tx)
            .await?;
        metrics::counter!("tasker_events_processed_total").increment(1);
        metrics::counter!("tasker_event_tasks_started_total").increment(outcome.tasks.len() as u64);
        Ok(Some(outcome))
    }
}
