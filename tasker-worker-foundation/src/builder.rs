//! Building a worker: handlers by name, the queues to serve (derived from the templates: each queue whose
//! every routed step has its handler here, unless given), and the database.

use crate::handler::StepHandler;
use crate::in_flight::InFlight;
use crate::registry::HandlerRegistry;
use crate::step_completer::Settling;
use crate::worker::Worker;
use crate::{Result, WorkerError};
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tasker_shared::config::TaskerConfig;
use tasker_shared::messaging::{ensure_queue, worker_queue};
use tasker_shared::template::{load_dir, QueueRoutes};

/// Most connections the claim loops share: a worker serving many queues (each with its own claim loop) stays
/// within a small connection budget, and one or two busy queues still claim without waiting.
const CLAIM_CONNECTIONS: usize = 4;

/// Builds a [`Worker`].
pub struct WorkerBuilder {
    config: TaskerConfig,
    pool: Option<PgPool>,
    handlers: Vec<(String, Arc<dyn StepHandler>)>,
    queues: Option<Vec<String>>,
    serve_http: bool,
    language: String,
}

impl WorkerBuilder {
    /// Start from a configuration (see `TaskerConfig::load`).
    pub fn new(config: TaskerConfig) -> Self {
        Self { config, pool: None, handlers: Vec::new(), queues: None, serve_http: true, language: "rust".into() }
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

    /// Serve exactly these queues (as templates name them: a step's `queue`, or its namespace) instead of
    /// deriving them from the templates. `build` fails if a template routes a step to one of them whose handler
    /// is not registered here.
    pub fn queues<I: IntoIterator<Item = S>, S: Into<String>>(mut self, queues: I) -> Self {
        self.queues = Some(queues.into_iter().map(Into::into).collect());
        self
    }

    /// The same as [`WorkerBuilder::queues`]: a namespace's queue is named after it (its steps go there unless
    /// they name their own queue).
    pub fn namespaces<I: IntoIterator<Item = S>, S: Into<String>>(self, namespaces: I) -> Self {
        self.queues(namespaces)
    }

    /// The language of the handlers, as recorded in the workers registry (`GET /v1/workers`); `rust` by default.
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = language.into();
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
        let routes = QueueRoutes::of(&report.templates);
        let derived = self.queues.is_none();
        let queues: BTreeSet<String> = match self.queues {
            Some(queues) => {
                let queues: BTreeSet<String> = queues.into_iter().collect();
                // Serving a queue means taking every message in it: a step routed there whose handler is missing
                // would fail at run time, so it fails the start instead.
                for queue in &queues {
                    if let Some(missing) = routes.missing(queue, |h| registry.contains(h)) {
                        return Err(WorkerError::UnknownHandler {
                            queue: queue.clone(),
                            template: missing.template.clone(),
                            field: missing.field.clone(),
                            handler: missing.handler.clone(),
                        });
                    }
                    tracing::info!(%queue, "serving a queue given explicitly");
                }
                queues
            }
            None => {
                // A queue is served only when every step that any template routes there is handled here.
                let servable = routes.servable(|h| registry.contains(h));
                for (queue, handlers) in &servable.served {
                    tracing::info!(%queue, handlers = %handlers.join(", "), "serving queue: every step routed here has its handler");
                }
                for (queue, missing) in &servable.skipped {
                    tracing::info!(
                        %queue,
                        template = %missing.template,
                        field = %missing.field,
                        handler = %missing.handler,
                        "not serving queue: a step routed here names a handler not registered in this worker"
                    );
                }
                servable.served.into_keys().collect()
            }
        };
        if queues.is_empty() {
            return Err(WorkerError::NothingToServe {
                path: self.config.templates.path.display().to_string(),
                handlers: registry.names().join(", "),
            });
        }
        let pool = match self.pool {
            Some(pool) => pool,
            None => tasker_shared::db::connect(&self.config.database).await?,
        };
        tasker_shared::db::prepare_or_check(&pool, self.config.database.run_migrations).await?;
        let queues: Vec<String> = queues.iter().map(|q| worker_queue(q)).collect();
        for queue in &queues {
            ensure_queue(&pool, queue).await?;
        }
        let worker_id = self.config.worker.worker_id.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
            format!("{host}-{}", std::process::id())
        });
        Ok(Worker {
            // One connection per claim loop up to CLAIM_CONNECTIONS (a loop holds one only while it claims, and
            // a worker serving many queues would otherwise hold one per queue), and one for a lease failed on its
            // last attempt.
            claim_pool: tasker_shared::db::relaxed_commit_pool(&pool, queues.len().min(CLAIM_CONNECTIONS) as u32 + 1),
            // Reports and the worker's own settling commit asynchronously too: a later durable commit that
            // depends on them flushes them (see `step_completer`). One connection: the reporter sends one batch
            // at a time.
            report_pool: tasker_shared::db::relaxed_commit_pool(&pool, 1),
            pool,
            settling: Settling::from(&self.config),
            config: self.config.worker,
            worker_id,
            registry: Arc::new(registry),
            served: std::sync::Arc::new(std::sync::RwLock::new(queues.clone())),
            queues,
            serve_http: self.serve_http,
            in_flight: InFlight::default(),
            watch_templates: derived,
            language: self.language,
            running: Arc::new(AtomicBool::new(false)),
        })
    }
}
