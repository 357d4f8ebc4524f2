//! The scheduler every orchestration server runs (unless `scheduling.enabled = false`): it starts delayed tasks
//! when their `run_at` comes ([`crate::delayed_start`]), fires cron schedules ([`crate::schedule_firing`]) and
//! turns emitted events into tasks ([`crate::event_triggers`]), and admits queued tasks whose concurrency gate
//! has room ([`crate::concurrency`]). Each pass takes what is due with row locks
//! that other servers skip, so any number of servers may run it. Between passes it sleeps until the next task or
//! schedule is due, at most `scheduling.poll_interval`, and wakes at once when an event is emitted.

use crate::concurrency;
use crate::delayed_start;
use crate::event_triggers::Triggers;
use crate::schedule_firing::{self, Firing};
use crate::task_writer::TaskWriter;
use crate::template_catalog::TemplateCatalog;
use chrono::Utc;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tasker_shared::config::{DispatchMode, ExecutionConfig, SchedulingConfig};
use tasker_shared::messaging::Wakeup;
use tokio_util::sync::CancellationToken;

/// The queue name whose notification channel `tasker.emit_event` notifies (`tasker_emitted_events`).
const EMITTED_EVENTS: &str = "emitted_events";

/// Runs delayed starts, cron schedules and event triggers.
pub struct Scheduler {
    pub(crate) pool: PgPool,
    /// One connection of its own for the transaction that holds due schedules while their tasks are created
    /// (through `pool`): waiting for a second connection of the same pool could exhaust it.
    pub(crate) lock_pool: PgPool,
    pub(crate) catalog: Arc<TemplateCatalog>,
    pub(crate) writer: TaskWriter,
    pub(crate) execution: ExecutionConfig,
    pub(crate) config: SchedulingConfig,
}

/// Run `batch` until a round handles fewer than `size` items. A failure ends the stage for this pass: it is
/// logged, naming `stage`, and returned.
async fn drain<F, Fut>(stage: &str, size: usize, mut batch: F) -> Option<crate::OrchestrationError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::Result<usize>>,
{
    loop {
        match batch().await {
            Ok(n) if n >= size => continue,
            Ok(_) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "{stage} failed; retrying next pass");
                return Some(e);
            }
        }
    }
}

/// The shortest pause between two passes.
const MIN_PASS_GAP: Duration = Duration::from_millis(100);

impl Scheduler {
    /// One pass: start every due task, fire every due schedule, handle every waiting event (each in batches).
    pub async fn pass(&self) -> crate::Result<()> {
        let batch = self.config.batch_size;
        let step = self.config.priority_step_seconds();
        // Queued tasks whose admission was missed (a server died between creating and admitting one, or a chosen
        // task was locked by a cancel at that moment): first, and whatever fails after it.
        if let Err(e) = concurrency::admit_all(&self.pool, step).await {
            tracing::warn!(error = %e, "admitting queued tasks failed; retrying next pass");
        }
        // Each stage runs whatever the one before it did: a failing schedule must not hold up due tasks or events.
        let size = batch as usize;
        let started = drain("starting due tasks", size, || delayed_start::start_due(&self.pool, batch, step)).await;
        let firing = Firing {
            pool: &self.pool,
            lock_pool: &self.lock_pool,
            catalog: &self.catalog,
            writer: &self.writer,
            execution: &self.execution,
            config: &self.config,
        };
        let fired = drain("firing due schedules", size, || firing.fire_due()).await;
        let triggers =
            Triggers { pool: &self.pool, catalog: &self.catalog, writer: &self.writer, execution: &self.execution };
        let handled = drain("handling emitted events", size, || triggers.process_waiting(batch)).await;
        started.or(fired).or(handled).map_or(Ok(()), Err)
    }

    /// How long to sleep before the next pass.
    async fn idle_for(&self) -> crate::Result<Duration> {
        let poll = self.config.poll_interval.0;
        let next = [delayed_start::next_due(&self.pool).await?, schedule_firing::next_fire(&self.pool).await?]
            .into_iter()
            .flatten()
            .min();
        Ok(match next {
            Some(at) => (at - Utc::now()).to_std().unwrap_or(Duration::ZERO).min(poll),
            None => poll,
        })
    }

    /// Pass after pass until `shutdown`. A failed pass is logged and tried again after a pause.
    pub async fn run(self, shutdown: CancellationToken) -> crate::Result<()> {
        let poll = self.config.poll_interval.0;
        let wakeup = Wakeup::start(&self.pool, EMITTED_EVENTS, DispatchMode::Hybrid, poll, shutdown.clone()).await?;
        while !shutdown.is_cancelled() {
            // A pass logs each failing stage itself (naming it); only the wait's own failure is logged here.
            let idle = match self.pass().await {
                Err(_) => poll,
                Ok(()) => self.idle_for().await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "reading the scheduler's next due time failed; retrying");
                    poll
                }),
            };
            if let Ok(waiting) = delayed_start::waiting(&self.pool).await {
                metrics::gauge!("tasker_scheduled_tasks").set(waiting as f64);
            }
            // A pass leaves nothing due that it could take, so a time already due here is one another server holds
            // (it is firing or starting it now) or one that failed: look again shortly, not at once.
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(idle.max(MIN_PASS_GAP)) => {}
                _ = wakeup.wait() => {}
            }
        }
        Ok(())
    }
}
