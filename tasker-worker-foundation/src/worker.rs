//! The worker runtime: one claim loop per served queue, handler executions bounded by a concurrency limit,
//! a batching reporter, a lease heartbeat, and graceful shutdown (stop claiming, let in-flight steps finish
//! within the grace period, release the rest to other workers at once).

use crate::handler::{StepContext, StepError};
use crate::heartbeat::{release, run_heartbeat};
use crate::in_flight::InFlight;
use crate::presence::Presence;
use crate::queue_watcher;
use crate::registry::HandlerRegistry;
use crate::step_claimer::{claim_batch, ClaimedStep};
use crate::step_completer::Settling;
use crate::step_reporter::{run_reporter, Completion};
use crate::{Result, WorkerError};
use serde_json::Value;
use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tasker_shared::config::WorkerConfig;
use tasker_shared::messaging::{ensure_queue, worker_queue, Wakeup, WakeupSet, TEMPLATES_TOPIC};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

/// A built worker; see [`crate::WorkerBuilder`].
pub struct Worker {
    pub(crate) pool: PgPool,
    /// Claims commit asynchronously (see `tasker_shared::db::relaxed_commit_pool`).
    pub(crate) claim_pool: PgPool,
    /// Reports and the worker's own settling commit asynchronously too (see `step_completer`).
    pub(crate) report_pool: PgPool,
    pub(crate) config: WorkerConfig,
    /// How finished steps are settled or reported (`step_completer`).
    pub(crate) settling: Settling,
    pub(crate) worker_id: String,
    pub(crate) registry: Arc<HandlerRegistry>,
    pub(crate) queues: Vec<String>,
    /// The queues read now: `queues`, then those named by templates registered while running.
    pub(crate) served: ServedQueues,
    pub(crate) serve_http: bool,
    pub(crate) in_flight: InFlight,
    pub(crate) running: Arc<AtomicBool>,
    /// Serve queues named by templates registered while running (the queues were derived, not given).
    pub(crate) watch_templates: bool,
    /// The handlers' language, for the workers registry.
    pub(crate) language: String,
}

/// The queues a worker reads, growing when it starts serving a queue named by a template registered while it
/// runs (what `/health/ready` lists).
pub(crate) type ServedQueues = Arc<std::sync::RwLock<Vec<String>>>;

/// Shared by the claim loops and executions of one worker.
#[derive(Clone)]
struct Runtime {
    claim_pool: PgPool,
    /// Durable commits: checkpoints.
    pool: PgPool,
    config: WorkerConfig,
    worker_id: String,
    registry: Arc<HandlerRegistry>,
    in_flight: InFlight,
    permits: Arc<Semaphore>,
    completions: mpsc::Sender<Completion>,
    hard_stop: CancellationToken,
}

impl Worker {
    /// The queues this worker reads.
    pub fn queues(&self) -> &[String] {
        &self.queues
    }

    /// This worker's id (recorded as `claimed_by`).
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// The steps this worker holds, as a handle that stays valid while [`Worker::run`] owns the worker (for
    /// health checks and tests: it is empty whenever the worker is idle).
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.clone()
    }

    /// The health and metrics router (`/health/live`, `/health/ready`, `/metrics`).
    pub fn router(&self) -> axum::Router {
        crate::http::router(
            self.pool.clone(),
            self.running.clone(),
            self.served.clone(),
            self.in_flight.clone(),
            self.worker_id.clone(),
        )
    }

    /// Run until `shutdown` is cancelled, then shut down gracefully.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        if self.serve_http {
            let listener = tokio::net::TcpListener::bind(&self.config.bind)
                .await
                .map_err(|source| WorkerError::Bind { bind: self.config.bind.clone(), source })?;
            tracing::info!(bind = %self.config.bind, "worker health endpoint listening");
            let router = self.router();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                let served =
                    axum::serve(listener, router).with_graceful_shutdown(async move { stop.cancelled().await });
                if let Err(e) = served.await {
                    tracing::error!(error = %e, "worker HTTP server failed");
                }
            });
        }
        let max = self.config.max_concurrency as usize;
        let (tx, rx) = mpsc::channel(max * 2);
        let reporter = tokio::spawn(run_reporter(
            self.report_pool.clone(),
            self.settling,
            rx,
            self.in_flight.clone(),
            self.config.batch_size as usize,
            Duration::from_secs(self.config.lease_seconds as u64),
        ));
        let heartbeat_stop = CancellationToken::new();
        let lease = self.config.lease_seconds as i32;
        let heartbeat =
            tokio::spawn(run_heartbeat(self.pool.clone(), self.in_flight.clone(), lease, heartbeat_stop.clone()));
        let rt = Runtime {
            claim_pool: self.claim_pool.clone(),
            pool: self.pool.clone(),
            config: self.config.clone(),
            worker_id: self.worker_id.clone(),
            registry: self.registry.clone(),
            in_flight: self.in_flight.clone(),
            permits: Arc::new(Semaphore::new(max)),
            completions: tx,
            hard_stop: CancellationToken::new(),
        };
        // One listening connection for every queue, and for template registrations when watching for them.
        let mut topics = self.queues.clone();
        if self.watch_templates {
            topics.push(TEMPLATES_TOPIC.to_string());
        }
        let (wakeup_set, mut wakeups) = WakeupSet::start(
            &self.pool,
            &topics,
            self.config.dispatch_mode,
            Duration::from_millis(self.config.poll_interval_ms),
            shutdown.clone(),
        )
        .await?;
        let templates_wakeup = if self.watch_templates { wakeups.pop() } else { None };
        // Listed in the registry before the first claim.
        let presence = Presence {
            pool: self.pool.clone(),
            worker_id: self.worker_id.clone(),
            host: tasker_shared::presence::host_name(),
            language: self.language.clone(),
            concurrency: self.config.max_concurrency as i32,
            served: self.served.clone(),
        };
        let registered = presence.register().await;
        let presence_stop = CancellationToken::new();
        let presence = tokio::spawn(presence.run(registered, presence_stop.clone()));
        let mut loops: Vec<_> = self
            .queues
            .iter()
            .zip(wakeups)
            .map(|(queue, wakeup)| tokio::spawn(claim_loop(rt.clone(), queue.clone(), wakeup, shutdown.clone())))
            .collect();
        if let Some(wakeup) = templates_wakeup {
            loops.push(tokio::spawn(watch_templates(
                self.pool.clone(),
                rt.clone(),
                self.served.clone(),
                wakeup_set.clone(),
                wakeup,
                shutdown.clone(),
            )));
        }
        self.running.store(true, Ordering::SeqCst);
        tracing::info!(worker_id = %self.worker_id, queues = ?self.queues, "worker started");

        shutdown.cancelled().await;
        self.running.store(false, Ordering::SeqCst);
        for l in loops {
            let _ = l.await;
        }
        // Let in-flight steps finish within the grace period; stop the rest.
        let grace = Duration::from_millis(self.config.shutdown_grace_ms);
        let all = rt.permits.clone().acquire_many_owned(max as u32);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(steps = self.in_flight.len(), "grace period over; releasing unfinished steps");
            rt.hard_stop.cancel();
            let _ = rt.permits.acquire_many(max as u32).await;
        }
        drop(rt);
        let _ = reporter.await;
        // No heartbeat may extend a lease after its release.
        heartbeat_stop.cancel();
        let _ = heartbeat.await;
        let unfinished = self.in_flight.snapshot();
        match release(&self.pool, &unfinished).await {
            Err(e) => {
                tracing::warn!(error = %e, steps = unfinished.len(), "could not release steps; their leases will expire")
            }
            Ok(released) => {
                if !unfinished.is_empty() {
                    tracing::info!(steps = released, "released unfinished steps to other workers");
                }
            }
        }
        presence_stop.cancel();
        let _ = presence.await;
        tracing::info!(worker_id = %self.worker_id, "worker stopped");
        Ok(())
    }
}

/// Serve each queue named by a template registered while the worker runs as soon as it is fully handled here
/// (see `queue_watcher`): a claim loop of its own, like those started with the worker, woken through the
/// worker's one listening connection. Returns at shutdown, after the loops it started.
async fn watch_templates(
    pool: PgPool,
    rt: Runtime,
    served: ServedQueues,
    wakeups: Arc<WakeupSet>,
    wakeup: Wakeup,
    shutdown: CancellationToken,
) {
    let mut loops = Vec::new();
    while !shutdown.is_cancelled() {
        match queue_watcher::servable_queues(&pool, &rt.registry).await {
            Ok(servable) => {
                let new: Vec<String> = servable
                    .served
                    .into_keys()
                    .filter(|name| served.read().map(|s| !s.contains(&worker_queue(name))).unwrap_or(false))
                    .collect();
                if !new.is_empty() {
                    let queues: Vec<String> = new.iter().map(|name| worker_queue(name)).collect();
                    let started = async {
                        for queue in &queues {
                            ensure_queue(&pool, queue).await?;
                        }
                        // One listening connection for all of them, however many are added over time.
                        wakeups.add(&queues).await
                    };
                    match started.await {
                        Ok(queue_wakeups) => {
                            for ((name, queue), queue_wakeup) in new.iter().zip(queues).zip(queue_wakeups) {
                                tracing::info!(queue = %name, "serving a queue named by a template registered while running");
                                loops.push(tokio::spawn(claim_loop(
                                    rt.clone(),
                                    queue.clone(),
                                    queue_wakeup,
                                    shutdown.clone(),
                                )));
                                if let Ok(mut s) = served.write() {
                                    s.push(queue);
                                }
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, queues = ?new, "cannot serve new queues yet; retrying"),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the registered templates; retrying"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = wakeup.wait() => {}
        }
    }
    for l in loops {
        let _ = l.await;
    }
}

async fn claim_loop(rt: Runtime, queue: String, wakeup: Wakeup, shutdown: CancellationToken) {
    let lease = rt.config.lease_seconds as i32;
    let batch_size = rt.config.batch_size as usize;
    let mut failures: u32 = 0;
    while !shutdown.is_cancelled() {
        // Reserve capacity before claiming, so that every claimed step has its permit and is in `in_flight`
        // (under heartbeat) at once, however many queues share the limit. Unused permits go back.
        let first = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = rt.permits.acquire() => match permit { Ok(p) => p, Err(_) => break },
        };
        first.forget();
        let mut reserved = 1;
        while reserved < batch_size {
            match rt.permits.try_acquire() {
                Ok(p) => {
                    p.forget();
                    reserved += 1;
                }
                Err(_) => break,
            }
        }
        let next_visible = match claim_batch(&rt.claim_pool, &queue, &rt.worker_id, lease, reserved as i32).await {
            Ok(batch) => {
                failures = 0;
                rt.permits.add_permits(reserved - batch.claimed.len());
                for mut step in batch.claimed {
                    rt.in_flight.insert(step.lease.clone(), step.context.cancelled.clone());
                    step.context.checkpointer = Some(crate::checkpoint::Checkpointer {
                        pool: rt.pool.clone(),
                        lease: step.lease.clone(),
                        lease_seconds: lease,
                    });
                    let rt = rt.clone();
                    tokio::spawn(async move {
                        execute(&rt, step).await;
                        rt.permits.add_permits(1);
                    });
                }
                if batch.messages >= reserved {
                    continue;
                }
                batch.next_visible_in
            }
            Err(e) => {
                rt.permits.add_permits(reserved);
                failures = failures.saturating_add(1);
                let pause = Duration::from_millis((50u64 << failures.min(6)).min(5_000));
                tracing::warn!(error = %e, %queue, retry_in_ms = pause.as_millis() as u64, "claim failed; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(pause) => continue,
                }
            }
        };
        // Sleep until told, polled, or the next delayed message (a retry) becomes visible.
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = wakeup.wait_at_most(next_visible) => {}
        }
    }
}

/// How long a handler whose step was cancelled may take to return after its token fires, before it is aborted.
const CANCELLED_HANDLER_GRACE: Duration = Duration::from_secs(2);

/// Run one claimed step and hand its outcome to the reporter (unless the worker is hard-stopping, in which
/// case the step is released by shutdown).
async fn execute(rt: &Runtime, step: ClaimedStep) {
    let ClaimedStep { context, lease, backoff_ms, namespace } = step;
    let handler_name = context.handler.clone();
    let task_uuid = context.task_uuid;
    let (attempt, max_attempts, step_name) = (context.attempt, context.max_attempts, context.step_name.clone());
    let cancelled = context.cancelled.clone();
    let started = std::time::Instant::now();
    let span = tracing::info_span!("step", task_uuid = %context.task_uuid, step_uuid = %context.step_uuid, step = %context.step_name);
    let handler = run_handler(&rt.registry, context);
    tokio::pin!(handler);
    let outcome = tokio::select! {
        // A handler that has finished is reported, even when a hard stop or a cancellation fired meanwhile.
        biased;
        outcome = &mut handler => outcome,
        _ = rt.hard_stop.cancelled() => return,
        _ = cancelled.cancelled() => {
            // Not ours any more. The handler gets a moment to see its token and return; what it returns is
            // reported like any outcome, and the claim token decides (a lost claim's report is rejected). A handler
            // that does not return in time is aborted (dropping its future) and nothing is reported.
            match tokio::time::timeout(CANCELLED_HANDLER_GRACE, &mut handler).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    span.in_scope(|| tracing::info!("step cancelled or claim lost; handler aborted"));
                    rt.in_flight.remove(&lease);
                    metrics::counter!("tasker_handlers_cancelled_total").increment(1);
                    return;
                }
            }
        }
    };
    let outcome_label = match &outcome {
        Ok(_) => "success",
        Err(e) if e.kind == crate::handler::StepErrorKind::Permanent => "permanent_error",
        Err(_) => "retryable_error",
    };
    metrics::histogram!("tasker_step_duration_seconds", "namespace" => namespace.clone(), "handler" => handler_name.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("tasker_step_outcomes_total", "namespace" => namespace, "handler" => handler_name, "outcome" => outcome_label)
        .increment(1);
    if let Err(e) = &outcome {
        tracing::warn!(
            task_uuid = %task_uuid,
            step_uuid = %lease.step_uuid,
            step = %step_name,
            attempt,
            max_attempts,
            error = %e.message,
            error_class = e.error_class.as_deref().unwrap_or("StepError"),
            next = %next_after_failure(e, attempt, max_attempts, backoff_ms),
            "step failed"
        );
    }
    if let Err(lost) = rt.completions.send(Completion { lease, task_uuid, outcome }).await {
        // The reporter is gone (it only stops once the worker has stopped): the step is left to lease expiry.
        tracing::error!(step_uuid = %lost.0.lease.step_uuid, "the reporter has stopped; outcome not reported");
        rt.in_flight.remove(&lost.0.lease);
    }
}

/// What follows a failed attempt, for the log: a retry and when, or none and why. The delay of a retry without
/// `retry_after` is drawn by the orchestrator from `[d/2, d]` (see `tasker_shared::backoff`), so a range is given.
fn next_after_failure(e: &StepError, attempt: i32, max_attempts: i32, (base_ms, max_ms): (u64, u64)) -> String {
    if e.kind == crate::handler::StepErrorKind::Permanent {
        return "no retry: the error is permanent".into();
    }
    if attempt >= max_attempts {
        return format!("no retry: attempt {attempt} was the last of {max_attempts}");
    }
    let next = attempt + 1;
    match e.retry_after {
        Some(delay) => format!("retry {next} of {max_attempts} in {:.3} s (asked by the handler)", delay.as_secs_f64()),
        None => {
            let d = base_ms.saturating_mul(1u64 << (attempt - 1).clamp(0, 40)).min(max_ms) as f64 / 1000.0;
            format!("retry {next} of {max_attempts} in {:.3}-{:.3} s", d / 2.0, d)
        }
    }
}

/// Call the handler in its own task (so a panic becomes an error, not a dead worker) under the step timeout.
async fn run_handler(registry: &HandlerRegistry, context: StepContext) -> Result<Value, StepError> {
    let Some(handler) = registry.get(&context.handler) else {
        return Err(StepError::permanent(format!("no handler `{}` is registered in this worker", context.handler))
            .with_class("HandlerNotFound"));
    };
    let timeout = context.timeout;
    let mut call = tokio::spawn(async move { handler.call(&context).await });
    // If this future is dropped (hard stop), the handler must not run on with its step released.
    let _abort = AbortOnDrop(call.abort_handle());
    match tokio::time::timeout(timeout, &mut call).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(join)) if join.is_panic() => {
            let panic = join.into_panic();
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "handler panicked".into());
            Err(StepError::retryable(format!("handler panicked: {message}")).with_class("Panic"))
        }
        Ok(Err(join)) => Err(StepError::retryable(format!("handler task failed: {join}")).with_class("Cancelled")),
        Err(_) => {
            call.abort();
            Err(StepError::retryable(format!("handler timed out after {} s", timeout.as_secs())).with_class("Timeout"))
        }
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
