//! The templates the server knows: registered in `tasker.task_templates` (so every server agrees) and cached
//! in memory with their compiled input-schema validators.

use crate::error::{OrchestrationError, Result};
use sqlx::PgPool;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tasker_shared::messaging::{ensure_queue, worker_queue};
use tasker_shared::template::{InitialStep, Shape, TaskLimits, TaskTemplate, TemplateError};

/// A template ready for task creation.
pub struct CompiledTemplate {
    /// Row id in `tasker.task_templates`.
    pub template_id: i64,
    /// The template.
    pub template: TaskTemplate,
    /// Every queue of the template's steps (sorted) when one of them is not the namespace; `None` otherwise.
    pub queues: Option<Vec<String>>,
    /// The steps a task starts with (a template with dynamic steps creates the others as it runs), every step
    /// after its dependencies.
    pub initial: Vec<InitialStep>,
    /// Its concurrency limits, when it has some.
    pub limits: Option<TaskLimits>,
    validator: Option<jsonschema::Validator>,
}

impl CompiledTemplate {
    fn compile(template_id: i64, template: TaskTemplate) -> Result<Self> {
        let validator = match &template.input_schema {
            Some(schema) => {
                // `format` (email, date-time, uuid, uri, …) is checked, not only annotated.
                Some(jsonschema::options().should_validate_formats(true).build(schema).map_err(|e| {
                    tasker_shared::TaskerError::Config {
                        key: format!("{}.input_schema", template.key()),
                        message: e.to_string(),
                    }
                })?)
            }
            None => None,
        };
        let queues = template.queues();
        let queues = (queues != [template.namespace.as_str()]).then(|| queues.into_iter().map(String::from).collect());
        let initial = Shape::of(&template).map_err(tasker_shared::TaskerError::from)?.initial_plan();
        let limits = template.concurrency.as_ref().map(|c| c.task_limits());
        Ok(Self { template_id, template, queues, initial, limits, validator })
    }

    /// Check `context` against the input schema; the error names the first offending field.
    pub fn validate_context(&self, context: &serde_json::Value) -> Result<()> {
        let Some(validator) = &self.validator else {
            return Ok(());
        };
        let errors: Vec<(String, String)> =
            validator.iter_errors(context).map(|e| (context_field(&e), e.to_string())).collect();
        let Some((field, message)) = errors.first().cloned() else {
            return Ok(());
        };
        Err(OrchestrationError::InvalidContext { field, message, errors })
    }
}

/// The dotted path of the value an error is about (`context.items[0].sku`); for a missing required property,
/// the property's own path.
fn context_field(error: &jsonschema::ValidationError<'_>) -> String {
    let mut field = String::from("context");
    for segment in error.instance_path.to_string().split('/').filter(|s| !s.is_empty()) {
        if segment.chars().all(|c| c.is_ascii_digit()) {
            field.push_str(&format!("[{segment}]"));
        } else {
            field.push('.');
            field.push_str(segment);
        }
    }
    if let jsonschema::error::ValidationErrorKind::Required { property } = &error.kind {
        field.push('.');
        field.push_str(property.as_str().unwrap_or_default());
    }
    field
}

type Key = (String, String, String);

/// Registered templates, cached.
pub struct TemplateCatalog {
    pool: PgPool,
    /// Compiled templates by version, remembered for [`LATEST_TTL`] (a version retired by another server stops
    /// taking tasks here after that).
    cache: RwLock<HashMap<Key, Remembered>>,
    /// The newest version of each (namespace, name), remembered for [`LATEST_TTL`] so that requests without a
    /// version do not each query the database; a version registered by another server is seen after that.
    latest: RwLock<HashMap<(String, String), Remembered>>,
}

/// A template and when it was looked up.
type Remembered = (Instant, Arc<CompiledTemplate>);

/// How long "the newest version" of a template is taken from memory.
const LATEST_TTL: Duration = Duration::from_secs(5);

/// Orders versions numerically where they are numeric (`1.10.0` > `1.9.0`).
pub(crate) fn version_key(v: &str) -> Vec<(u64, String)> {
    v.split(['.', '-']).map(|p| (p.parse().unwrap_or(0), p.to_string())).collect()
}

impl TemplateCatalog {
    /// An empty catalog over `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool, cache: RwLock::new(HashMap::new()), latest: RwLock::new(HashMap::new()) }
    }

    /// The database pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Make sure `template`'s namespace, the queues of its steps and the rate limit buckets they name exist.
    pub async fn prepare_queues(&self, template: &TaskTemplate) -> Result<()> {
        for queue in template.queues() {
            ensure_queue(&self.pool, &worker_queue(queue)).await?;
        }
        let namespace = &template.namespace;
        let queue = worker_queue(namespace);
        sqlx::query("INSERT INTO tasker.namespaces (name, queue_name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(namespace)
            .bind(&queue)
            .execute(&self.pool)
            .await?;
        crate::rate_limits::declare(&self.pool, template).await?;
        Ok(())
    }

    /// Forget what this server remembers of `namespace/name` (a version was registered or retired here).
    pub fn forget(&self, namespace: &str, name: &str) {
        self.cache.write().expect("template cache poisoned").retain(|(n, m, _), _| !(n == namespace && m == name));
        self.latest.write().expect("template cache poisoned").remove(&(namespace.to_string(), name.to_string()));
    }

    /// Register a template file's template (`file`, for errors) and create its queues. Re-registering an
    /// unchanged template writes nothing; a template whose content differs from the version already registered
    /// under its name is refused, naming the file and `version` (a version is immutable: tasks created on it
    /// must keep meaning what they meant).
    pub async fn register(&self, template: TaskTemplate, file: &Path) -> Result<Arc<CompiledTemplate>> {
        self.prepare_queues(&template).await?;
        let definition = serde_json::to_value(&template).map_err(tasker_shared::TaskerError::from)?;
        let register = || {
            sqlx::query_as(include_str!("sql/register_template.sql"))
                .bind(&template.namespace)
                .bind(&template.name)
                .bind(&template.version)
                .bind(&definition)
                .fetch_optional(&self.pool)
        };
        // No row: another server inserted this version after the statement's snapshot was taken (its insert waited
        // for that commit and did nothing; the snapshot cannot see the row). The statement run again sees it.
        let (template_id, same): (i64, bool) = match register().await? {
            Some(row) => row,
            None => register().await?.ok_or_else(|| sqlx::Error::RowNotFound)?,
        };
        if !same {
            let message = format!(
                "{} is already registered with other content; a version is immutable, so give the changed template a new version",
                template.key()
            );
            return Err(tasker_shared::TaskerError::from(TemplateError::new("version", message).in_file(file)).into());
        }
        let compiled = Arc::new(CompiledTemplate::compile(template_id, template)?);
        let t = &compiled.template;
        self.cache
            .write()
            .expect("template cache poisoned")
            .insert((t.namespace.clone(), t.name.clone(), t.version.clone()), (Instant::now(), compiled.clone()));
        self.latest.write().expect("template cache poisoned").remove(&(t.namespace.clone(), t.name.clone()));
        Ok(compiled)
    }

    /// Find a template; without a version, the highest registered one. Falls back to the database so that
    /// templates registered by another server are found.
    pub async fn find(&self, namespace: &str, name: &str, version: Option<&str>) -> Result<Arc<CompiledTemplate>> {
        if let Some(version) = version {
            let key = (namespace.to_string(), name.to_string(), version.to_string());
            if let Some((at, found)) = self.cache.read().expect("template cache poisoned").get(&key) {
                if at.elapsed() < LATEST_TTL {
                    return Ok(found.clone());
                }
            }
        } else {
            let key = (namespace.to_string(), name.to_string());
            if let Some((at, found)) = self.latest.read().expect("template cache poisoned").get(&key) {
                if at.elapsed() < LATEST_TTL {
                    return Ok(found.clone());
                }
            }
            let found = self.find_in_database(namespace, name, None).await?;
            self.latest.write().expect("template cache poisoned").insert(key, (Instant::now(), found.clone()));
            return Ok(found);
        }
        self.find_in_database(namespace, name, version).await
    }

    async fn find_in_database(
        &self,
        namespace: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<Arc<CompiledTemplate>> {
        let rows: Vec<(i64, String, serde_json::Value)> = sqlx::query_as(
            "SELECT template_id, version, definition FROM tasker.task_templates
             WHERE namespace = $1 AND name = $2 AND ($3::text IS NULL OR version = $3) AND active",
        )
        .bind(namespace)
        .bind(name)
        .bind(version)
        .fetch_all(&self.pool)
        .await?;
        let Some((id, version, definition)) = rows.into_iter().max_by_key(|(_, v, _)| version_key(v)) else {
            return Err(OrchestrationError::TemplateNotFound {
                namespace: namespace.into(),
                name: name.into(),
                version: version.map(str::to_string),
            });
        };
        let key = (namespace.to_string(), name.to_string(), version);
        let known = self.cache.read().expect("template cache poisoned").get(&key).map(|(_, c)| c.clone());
        let compiled = match known {
            Some(found) if found.template_id == id => found,
            _ => {
                let template: TaskTemplate =
                    serde_json::from_value(definition).map_err(tasker_shared::TaskerError::from)?;
                Arc::new(CompiledTemplate::compile(id, template)?)
            }
        };
        self.cache.write().expect("template cache poisoned").insert(key, (Instant::now(), compiled.clone()));
        Ok(compiled)
    }

    /// Every registered template, newest version last.
    pub async fn list(&self) -> Result<Vec<TaskTemplate>> {
        let rows: Vec<(serde_json::Value,)> =
            sqlx::query_as("SELECT definition FROM tasker.task_templates ORDER BY namespace, name, template_id")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().filter_map(|(d,)| serde_json::from_value(d).ok()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::version_key;

    #[test]
    fn versions_order_numerically() {
        assert!(version_key("1.10.0") > version_key("1.9.0"));
        assert!(version_key("2.0.0") > version_key("1.99.99"));
    }
}
