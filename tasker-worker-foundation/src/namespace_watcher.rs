//! Namespaces registered while the worker runs. A worker whose namespaces are derived from templates (not given
//! with `WorkerBuilder::namespaces`) also serves a namespace registered later, over the API or by another server,
//! as soon as every active template of that namespace names only handlers registered here. It looks when a
//! registration announces itself (`tasker_templates` notification, sent in the registering transaction) and at
//! the worker's poll interval; a namespace is never dropped while the worker runs.

use crate::registry::HandlerRegistry;
use crate::Result;
use sqlx::PgPool;
use std::collections::{BTreeMap, BTreeSet};
use tasker_shared::template::TaskTemplate;

/// The namespaces whose every active registered template names only handlers in `registry`.
pub async fn servable_namespaces(pool: &PgPool, registry: &HandlerRegistry) -> Result<BTreeSet<String>> {
    let rows: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT namespace, definition FROM tasker.task_templates WHERE active").fetch_all(pool).await?;
    let mut handled: BTreeMap<String, bool> = BTreeMap::new();
    for (namespace, definition) in rows {
        let all_handled = serde_json::from_value::<TaskTemplate>(definition)
            .is_ok_and(|t| t.steps.iter().all(|s| registry.contains(&s.handler)));
        *handled.entry(namespace).or_insert(true) &= all_handled;
    }
    Ok(handled.into_iter().filter(|(_, ok)| *ok).map(|(namespace, _)| namespace).collect())
}
