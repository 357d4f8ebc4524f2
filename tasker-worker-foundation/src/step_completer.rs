//! Finishing a batch of handler runs: the successful outcomes of `standard` steps are settled by the worker
//! itself (completed, their ready dependents enqueued, their tasks finalized: `tasker_shared::settle`, the
//! statement the orchestration runs too), the rest is reported to the orchestration (`step_reporter`), all in
//! one transaction:
//! 1. lock the tasks of the successful steps that qualify (`sql/lock_settling_tasks.sql`);
//! 2. settle those steps under their claims (a lost claim applies nothing) and delete their step messages;
//! 3. report everything else (failures, decisions, batches, batch worker instances, steps of gated or no longer
//!    live tasks).
//!
//! This saves a step one hop: no result message, no `enqueued_for_orchestration` update with its audit row, no
//! result batch. The transaction commits asynchronously, like a report, unless it finalized a task and step
//! commits are durable (`database.synchronous_step_commits`). PostgreSQL replays WAL in order, so a crash loses
//! a suffix of the commits: with this one lost, so is everything that followed from it (its dependents' claims
//! and outcomes); the step's lease then expires and it runs again, as after a lost report. A durable commit (a
//! task's end) flushes every commit before it.

use crate::step_reporter::{log_lost_claims, report_batch, Completion, ReportSummary};
use crate::Result;
use sqlx::{FromRow, PgPool};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use tasker_shared::config::TaskerConfig;
use tasker_shared::jsonb;
use tasker_shared::settle::{log_failed_tasks, settle, Outcomes, SettleScope};
use tasker_shared::states::StepState;
use uuid::Uuid;

/// How a worker finishes its steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settling {
    /// Settle successful `standard` steps here (`worker.settle_completions`); otherwise report every outcome.
    pub enabled: bool,
    /// Commit durably when a task is finalized (`database.synchronous_step_commits`).
    pub durable: bool,
    /// Seconds per priority level of the step queues (`SchedulingConfig::priority_step_seconds`).
    pub priority_step: f64,
}

impl From<&TaskerConfig> for Settling {
    fn from(c: &TaskerConfig) -> Self {
        Self {
            enabled: c.worker.settle_completions,
            durable: c.database.synchronous_step_commits,
            priority_step: c.scheduling.priority_step_seconds(),
        }
    }
}

impl Default for Settling {
    fn default() -> Self {
        Self::from(&TaskerConfig::default())
    }
}

/// A step whose outcome the worker may settle (a row of `lock_settling_tasks.sql`).
#[derive(FromRow)]
struct Settleable {
    step_uuid: Uuid,
    task_uuid: Uuid,
    queues: Vec<String>,
}

/// Finish `batch` (see the module docs) on `pool`, which commits asynchronously
/// (`tasker_shared::db::relaxed_commit_pool`). `accepted` counts the outcomes settled or reported.
pub async fn finish_batch(pool: &PgPool, batch: &[Completion], settling: &Settling) -> Result<ReportSummary> {
    let successes: Vec<Uuid> = batch.iter().filter(|c| settles(c).is_some()).map(|c| c.lease.step_uuid).collect();
    if !settling.enabled || successes.is_empty() {
        return report_batch(pool, batch).await;
    }
    let mut tx = pool.begin().await?;
    let settleable: Vec<Settleable> =
        sqlx::query_as(include_str!("sql/lock_settling_tasks.sql")).bind(&successes).fetch_all(&mut *tx).await?;
    let qualified: HashSet<Uuid> = settleable.iter().map(|s| s.step_uuid).collect();
    // A success of a qualified step, not any outcome of it: a batch may hold a late success under an old claim
    // and a failure under the current one of the same step (a worker that re-claimed its own step).
    let mut chosen: Vec<(&Completion, &serde_json::Value)> = Vec::new();
    let mut rest: Vec<Completion> = Vec::new();
    for c in batch {
        match settles(c) {
            Some(result) if qualified.contains(&c.lease.step_uuid) => chosen.push((c, result)),
            _ => rest.push(c.clone()),
        }
    }
    let mut summary = ReportSummary::default();
    let mut finalized = Vec::new();
    if !chosen.is_empty() {
        let mut live: Vec<Uuid> = settleable.iter().map(|s| s.task_uuid).collect();
        live.sort_unstable();
        live.dedup();
        let queues: Vec<String> =
            settleable.iter().flat_map(|s| s.queues.iter().cloned()).collect::<BTreeSet<_>>().into_iter().collect();
        let scope = SettleScope {
            live_tasks: &live,
            queues: &queues,
            priority_step: settling.priority_step,
            durable_finalization: settling.durable,
        };
        let settled = settle(&mut tx, &outcomes(&chosen), scope).await?;
        summary.accepted = settled.applied.len();
        summary.rejected = chosen.len() - settled.applied.len();
        if summary.rejected > 0 {
            let applied: BTreeSet<Uuid> = settled.applied.iter().map(|(s, _)| *s).collect();
            log_lost_claims(chosen.iter().map(|(c, _)| *c).filter(|c| !applied.contains(&c.lease.step_uuid)));
        }
        metrics::counter!("tasker_steps_settled_by_worker_total").increment(summary.accepted as u64);
        metrics::counter!("tasker_late_results_rejected_total").increment(summary.rejected as u64);
        finalized = settled.finalized;
    }
    let reported = report_batch(&mut *tx, &rest).await?;
    tx.commit().await?;
    log_failed_tasks(pool, &finalized).await;
    summary.accepted += reported.accepted;
    summary.rejected += reported.rejected;
    Ok(summary)
}

/// The result of a completion the worker may settle itself: a success that PostgreSQL can store as it is (a
/// result holding a NUL character takes the report path, which fails the step with a clear error).
fn settles(c: &Completion) -> Option<&serde_json::Value> {
    c.outcome.as_ref().ok().filter(|v| !jsonb::contains_nul(v))
}

/// The settle statement's arguments for `chosen` (successes with their results, each settled under its claim).
fn outcomes(chosen: &[(&Completion, &serde_json::Value)]) -> Outcomes {
    let queues: BTreeMap<String, i32> =
        tasker_shared::messaging::index_queues(chosen.iter().map(|(c, _)| c.lease.queue.as_str()))
            .into_iter()
            .map(|(q, ix)| (q.to_string(), ix))
            .collect();
    let mut o = Outcomes::default();
    for (c, result) in chosen {
        o.step_uuids.push(c.lease.step_uuid);
        o.states.push(StepState::Complete.as_str());
        o.next_attempt_at.push(None);
        o.claim_tokens.push(c.lease.claim_token);
        o.results.push((*result).clone());
        o.msg_ids.push(c.lease.msg_id);
        o.queue_ix.push(queues[c.lease.queue.as_str()]);
    }
    o.source_queues = queues;
    o
}
