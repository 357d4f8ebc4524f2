//! The orchestration server: prepares the database, registers the templates, serves the API and runs the
//! result processor until shutdown.

use crate::api::{self, AppState};
use crate::error::Result;
use crate::events::EventHub;
use crate::result_processor::{ResultProcessor, ResultProcessorConfig};
use crate::task_writer::TaskWriter;
use crate::template_catalog::TemplateCatalog;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tasker_shared::config::TaskerConfig;
use tasker_shared::messaging::{ensure_queue, RESULTS_QUEUE};
use tasker_shared::template::load_dir;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A configured orchestration server.
pub struct OrchestrationServer {
    pool: PgPool,
    config: TaskerConfig,
    catalog: Arc<TemplateCatalog>,
    writer: TaskWriter,
    events: EventHub,
}

impl OrchestrationServer {
    /// Prepare the database behind `pool` (pgmq + migrations, idempotent) and register the templates found
    /// under `config.templates.path`. Invalid templates are logged and skipped.
    pub async fn new(pool: PgPool, config: TaskerConfig) -> Result<Self> {
        // Record metrics from the start, not from the first scrape.
        tasker_shared::observability::prometheus();
        tasker_shared::db::prepare_or_check(&pool, config.database.run_migrations).await?;
        ensure_queue(&pool, RESULTS_QUEUE).await?;
        let catalog = Arc::new(TemplateCatalog::new(pool.clone()));
        let path = &config.templates.path;
        if !path.is_dir() {
            return Err(tasker_shared::TaskerError::Config {
                key: "templates.path".into(),
                message: format!("{} is not a directory (set TASKER_TEMPLATE_PATH to your templates)", path.display()),
            }
            .into());
        }
        let report = load_dir(path);
        for error in &report.errors {
            tracing::error!(%error, "skipping invalid template");
        }
        let (registered, invalid) = (report.templates.len(), report.errors.len());
        for template in report.templates {
            let key = template.key();
            catalog.register(template.clone(), &report.files[&key]).await?;
            crate::schedules::register_declared(&pool, &catalog, &template).await?;
            tracing::debug!(template = %key, "registered template");
        }
        tracing::info!(registered, invalid, path = %path.display(), "templates registered");
        let writer = TaskWriter::start(pool.clone(), config.scheduling.priority_step_seconds());
        let events = EventHub::new(pool.clone());
        Ok(Self { pool, config, catalog, writer, events })
    }

    /// The template catalog.
    pub fn catalog(&self) -> Arc<TemplateCatalog> {
        self.catalog.clone()
    }

    /// The event stream's hub (what the router's stream endpoints and the result processor share).
    pub fn events(&self) -> EventHub {
        self.events.clone()
    }

    /// The task writer (what `POST /v1/tasks` creates tasks through).
    pub fn writer(&self) -> TaskWriter {
        self.writer.clone()
    }

    /// The REST router.
    pub fn router(&self) -> axum::Router {
        let state = AppState {
            pool: self.pool.clone(),
            catalog: self.catalog.clone(),
            execution: self.config.execution.clone(),
            writer: self.writer.clone(),
            events: self.events.clone(),
            priority_step: self.config.scheduling.priority_step_seconds(),
        };
        api::router(state, &self.config)
    }

    /// The scheduler (delayed tasks, cron schedules, event triggers) configured like this server's.
    pub fn scheduler(&self) -> crate::scheduler::Scheduler {
        crate::scheduler::Scheduler {
            pool: self.pool.clone(),
            lock_pool: tasker_shared::db::side_pool(&self.pool, 1),
            catalog: self.catalog.clone(),
            writer: self.writer.clone(),
            execution: self.config.execution.clone(),
            config: self.config.scheduling.clone(),
        }
    }

    /// A result processor configured like this server's.
    pub fn result_processor(&self) -> ResultProcessor {
        ResultProcessor::new(self.pool.clone(), ResultProcessorConfig::from(&self.config))
            .with_events(self.events.clone())
    }

    /// Serve HTTP on `listener` and process results until `shutdown` is cancelled; then stop accepting
    /// requests, let the current batch commit (or roll back) and return within the grace period.
    pub async fn run(self, listener: TcpListener, shutdown: CancellationToken) -> Result<()> {
        let processor = tokio::spawn(self.result_processor().run(shutdown.clone()));
        let scheduler = self.config.scheduling.enabled.then(|| {
            let scheduler = self.scheduler();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                if let Err(e) = scheduler.run(stop).await {
                    tracing::error!(error = %e, "scheduler stopped");
                }
            })
        });
        let retention = self.config.retention.enabled.then(|| {
            tokio::spawn(crate::retention::run(self.pool.clone(), self.config.retention.clone(), shutdown.clone()))
        });
        let grace = Duration::from_millis(self.config.orchestration.shutdown_grace_ms);
        let stop = shutdown.clone();
        let events = self.events.clone();
        let stop_events = shutdown.clone();
        // Followers' streams never end by themselves; they must end for the graceful shutdown to finish.
        tokio::spawn(async move {
            stop_events.cancelled().await;
            events.stop();
        });
        let serve = axum::serve(listener, self.router()).with_graceful_shutdown(async move { stop.cancelled().await });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "HTTP server failed");
            shutdown.cancel();
        }
        match tokio::time::timeout(grace, processor).await {
            Ok(Ok(result)) => result?,
            Ok(Err(join)) => tracing::error!(error = %join, "result processor panicked"),
            Err(_) => tracing::warn!("result processor did not stop within the grace period"),
        }
        // A batch in progress is one short transaction; let it finish.
        for background in [retention, scheduler].into_iter().flatten() {
            let _ = tokio::time::timeout(grace, background).await;
        }
        self.pool.close().await;
        Ok(())
    }
}
