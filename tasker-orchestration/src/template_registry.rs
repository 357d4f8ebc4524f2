//! Registering templates at run time (`POST /v1/templates`), listing a template's versions and retiring one.
//!
//! A version is immutable once registered through the API: the same namespace, name and version with other
//! content is a conflict, with the same content a no-op. A retired version takes no new tasks; tasks created on it
//! run to the end on it (their steps were written at creation). Other servers see a registration or retirement
//! within the catalog's cache lifetime (5 s).

use crate::error::{OrchestrationError, Result};
use crate::template_catalog::TemplateCatalog;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;
use tasker_shared::messaging::{notify_channel, TEMPLATES_TOPIC};
use tasker_shared::template::TaskTemplate;

/// What registering did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// A new version.
    Created,
    /// The same content was registered already (retired, it is active again).
    Unchanged,
}

/// One registered version of a template.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct TemplateVersion {
    /// The version.
    pub version: String,
    /// Whether it takes new tasks.
    pub active: bool,
    /// When it was first registered.
    pub registered_at: DateTime<Utc>,
    /// The template as registered.
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
}

/// Register `template` as a new, immutable version (see the module docs).
pub async fn add_template(catalog: &TemplateCatalog, template: TaskTemplate) -> Result<Registered> {
    catalog.prepare_queues(&template).await?;
    let definition = serde_json::to_value(&template).map_err(tasker_shared::TaskerError::from)?;
    let sql = include_str!("sql/add_template.sql").replace("{templates_channel}", &notify_channel(TEMPLATES_TOPIC));
    let row: Option<(bool, bool)> = sqlx::query_as(&sql)
        .bind(&template.namespace)
        .bind(&template.name)
        .bind(&template.version)
        .bind(&definition)
        .fetch_optional(catalog.pool())
        .await?;
    let outcome = match row {
        Some((true, _)) => Registered::Created,
        Some((false, true)) => Registered::Unchanged,
        Some((false, false)) => {
            return Err(OrchestrationError::Conflict(format!(
                "{} is registered with other content; register a new version instead",
                template.key()
            )))
        }
        // Registered by a concurrent request after this statement's snapshot: read again.
        None => return Box::pin(add_template(catalog, template)).await,
    };
    catalog.forget(&template.namespace, &template.name);
    Ok(outcome)
}

/// Every version of `namespace/name`, newest first; 404 when there is none.
pub async fn versions(catalog: &TemplateCatalog, namespace: &str, name: &str) -> Result<Vec<TemplateVersion>> {
    let mut rows: Vec<TemplateVersion> = sqlx::query_as(
        "SELECT version, active, created_at AS registered_at, definition FROM tasker.task_templates
         WHERE namespace = $1 AND name = $2",
    )
    .bind(namespace)
    .bind(name)
    .fetch_all(catalog.pool())
    .await?;
    if rows.is_empty() {
        return Err(OrchestrationError::TemplateNotFound {
            namespace: namespace.into(),
            name: name.into(),
            version: None,
        });
    }
    rows.sort_by_key(|v| std::cmp::Reverse(crate::template_catalog::version_key(&v.version)));
    Ok(rows)
}

/// Retire `namespace/name@version`: it takes no new tasks. 404 when there is no such version.
pub async fn retire(catalog: &TemplateCatalog, namespace: &str, name: &str, version: &str) -> Result<()> {
    let done = sqlx::query(
        "UPDATE tasker.task_templates SET active = false, updated_at = now()
         WHERE namespace = $1 AND name = $2 AND version = $3",
    )
    .bind(namespace)
    .bind(name)
    .bind(version)
    .execute(catalog.pool())
    .await?
    .rows_affected();
    if done == 0 {
        return Err(OrchestrationError::TemplateNotFound {
            namespace: namespace.into(),
            name: name.into(),
            version: Some(version.into()),
        });
    }
    catalog.forget(namespace, name);
    Ok(())
}
