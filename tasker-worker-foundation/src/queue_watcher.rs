//! Queues named by templates registered while the worker runs. A worker whose queues are derived from templates
//! (not given with `WorkerBuilder::queues`) also serves a queue that a template registered later (over the API,
//! or by another server) routes steps to, as soon as every active template's steps routed to that queue name
//! handlers registered here. It looks when a registration announces itself (`tasker_templates` notification,
//! sent in the registering transaction) and at the worker's poll interval; a queue is never dropped while the
//! worker runs.

use crate::registry::HandlerRegistry;
use crate::Result;
use sqlx::PgPool;
use tasker_shared::template::{QueueRoutes, Servable, TaskTemplate};

/// The queues that the active registered templates route steps to, split into those whose every step has its
/// handler in `registry` and the others.
pub async fn servable_queues(pool: &PgPool, registry: &HandlerRegistry) -> Result<Servable> {
    let rows: Vec<(serde_json::Value,)> =
        sqlx::query_as("SELECT definition FROM tasker.task_templates WHERE active").fetch_all(pool).await?;
    let templates: Vec<TaskTemplate> = rows
        .into_iter()
        .filter_map(|(definition,)| {
            let name = format!("{}/{}@{}", definition["namespace"], definition["name"], definition["version"]);
            serde_json::from_value(definition)
                .map_err(|e| tracing::warn!(template = %name, error = %e, "a registered template this worker cannot read is left out of its queues"))
                .ok()
        })
        .collect();
    Ok(QueueRoutes::of(&templates).servable(|h| registry.contains(h)))
}
