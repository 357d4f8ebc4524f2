//! Building a worker: handlers by name, the namespaces to serve (derived from the templates whose handlers
//! are all registered, unless given), and the database.

use crate::handler::StepHandler;
use crate::in_flight::InFlight;
use crate::registry::HandlerRegistry;
use crate::worker::Worker;
use crate::{Result, WorkerError};
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tasker_shared::config::TaskerConfig;
use tasker_shared::messaging::{ensure_queue, worker_queue};
use tasker_shared::template::load_dir;

/// Builds a [`Worker`].
pub struct WorkerBuilder {
    config: TaskerConfig,
    pool: Option<PgPool>,
    handlers: Vec<(String, Arc<dyn StepHandler>)>,
    namespaces: Option<Vec<String>>,
    serve_http: bool,
}

impl WorkerBuilder {
    /// Start from a configuration (see `TaskerConfig::load`).
    pub fn new(config: TaskerConfig) -> Self {
        Self { config, pool: None, handlers: Vec::new(), namespaces: None, serve_http: true }
    }

    /// Register `handler` under `name` (the `handler:` of template steps).
    pub fn register(self, name: impl Into<String>, handler: impl StepHandler) -> Self {
        self.register_arc(name, Arc::new(handler))
    }

    /// Register a shared handler under `name`.
    pub fn register_arc(mut self, name: impl Into<String>, handler: Arc<dyn StepHandler>) -> Self {
        self.handlers.push((name.into(), handler));
        self
    }

    /// Use this pool instead of connecting with the configuration's database settings.
    pub fn pool(mut self, pool: PgPool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Serve exactly these namespaces instead of deriving them from the templates.
    pub fn namespaces<I: IntoIterator<Item = S>, S: Into<String>>(mut self, namespaces: I) -> Self {
        self.namespaces = Some(namespaces.into_iter().map(Into::into).collect());
        self
    }

    /// Whether `run` serves the health endpoints on `worker.bind` (default true).
    pub fn serve_http(mut self, serve: bool) -> Self {
        self.serve_http = serve;
        self
    }

    /// Check the handlers (a duplicate name is an error), connect, prepare the database and the queues.
    pub async fn build(self) -> Result<Worker> {
        // Record metrics from the start, not from the first scrape.
        tasker_shared::observability::prometheus();
        let mut registry = HandlerRegistry::default();
        for (name, handler) in self.handlers {
            registry.register(name, handler)?;
        }
        let report = load_dir(&self.config.templates.path);
        for error in &report.errors {
            tracing::error!(%error, "skipping invalid template");
        }
        // Every step whose handler is not registered here, as (namespace, template, field, handler).
        let unhandled: Vec<(String, String, String, String)> = report
            .templates
            .iter()
            .flat_map(|t| {
                t.steps
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| !registry.contains(&s.handler))
                    .map(|(i, s)| (t.namespace.clone(), t.key(), format!("steps[{i}].handler"), s.handler.clone()))
            })
            .collect();
        let derived = self.namespaces.is_none();
        let namespaces: BTreeSet<String> = match self.namespaces {
            Some(ns) => {
                let ns: BTreeSet<String> = ns.into_iter().collect();
                // Serving a namespace means taking every message in it: a template there whose handler is
                // missing would fail its steps at run time, so it fails the start instead.
                if let Some((_, template, field, handler)) = unhandled.iter().find(|(n, ..)| ns.contains(n)) {
                    return Err(WorkerError::UnknownHandler {
                        template: template.clone(),
                        field: field.clone(),
                        handler: handler.clone(),
                    });
                }
                ns
            }
            None => {
                // A namespace is served only when every one of its templates is fully handled here.
                let all: BTreeSet<&str> = report.templates.iter().map(|t| t.namespace.as_str()).collect();
                let served: BTreeSet<String> =
                    all.into_iter().filter(|ns| !unhandled.iter().any(|(n, ..)| n == ns)).map(str::to_string).collect();
                for (namespace, template, field, handler) in unhandled.iter().filter(|(n, ..)| !served.contains(n)) {
                    tracing::debug!(%namespace, %template, %field, %handler, "handler not registered here; namespace not served");
                }
                served
            }
        };
        if namespaces.is_empty() {
            return Err(WorkerError::NothingToServe {
                path: self.config.templates.path.display().to_string(),
                handlers: registry.names().join(", "),
            });
        }
        let pool = match self.pool {
            Some(pool) => pool,
            None => tasker_shared::db::connect(&self.config.database).await?,
        };
        tasker_shared::db::prepare(&pool).await?;
        let queues: Vec<String> = namespaces.iter().map(|ns| worker_queue(ns)).collect();
        for queue in &queues {
            ensure_queue(&pool, queue).await?;
        }
        let worker_id = self.config.worker.worker_id.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
            format!("{host}-{}", std::process::id())
        });
        Ok(Worker {
            // One connection per claim loop, and one for a lease failed on its last attempt.
            claim_pool: tasker_shared::db::relaxed_commit_pool(&pool, queues.len() as u32 + 1),
            pool,
            config: self.config.worker,
            worker_id,
            registry: Arc::new(registry),
            served: std::sync::Arc::new(std::sync::RwLock::new(queues.clone())),
            queues,
            serve_http: self.serve_http,
            in_flight: InFlight::default(),
            watch_namespaces: derived,
            running: Arc::new(AtomicBool::new(false)),
            durable: self.config.database.synchronous_step_commits,
        })
    }
}
