//! Retention: a background sweep deletes finished tasks (complete, cancelled, error) older than
//! `[retention] keep_terminal_tasks` (`keep_failed_tasks` for tasks in error), with their steps and audit rows.
//!
//! Each batch is one short transaction (`sql/retention_sweep.sql`, at most `batch_size` tasks) that first takes a
//! transaction-scoped advisory lock without waiting: with several servers, one sweeps and the others skip the
//! round. No table lock, no long transaction; batches follow each other until nothing is old enough. Then the
//! event stream's placements of transactions whose audit rows are all gone go too
//! (`sql/retention_event_placements.sql`), and so do schedule fire records and processed emitted events older
//! than `keep_terminal_tasks` (`sql/retention_records.sql`; an event key can be emitted again after that, as a
//! task's idempotency key can be used again once its task is deleted).

use crate::error::Result;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::time::Duration;
use tasker_shared::config::RetentionConfig;
use tokio_util::sync::CancellationToken;

/// The advisory lock key of the sweep (`"tasker retention"` folded to 64 bits).
const SWEEP_LOCK: i64 = 0x7461_736b_7265_7465;

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepSummary {
    /// Tasks deleted.
    pub deleted: u64,
    /// Batches run.
    pub batches: u64,
    /// Whether another server held the sweep lock (then nothing was done).
    pub skipped: bool,
    /// Event-stream placements deleted (of transactions whose audit rows are all gone).
    pub placements: u64,
    /// Schedule fire records deleted.
    pub fires: u64,
    /// Processed emitted events deleted.
    pub events: u64,
}

/// Delete old finished tasks in batches until none is left (or another server is sweeping).
pub async fn sweep(pool: &PgPool, config: &RetentionConfig) -> Result<SweepSummary> {
    let mut summary = SweepSummary::default();
    loop {
        let now = Utc::now();
        let cutoff = |keep: Duration| {
            chrono::Duration::from_std(keep)
                .ok()
                .and_then(|d| now.checked_sub_signed(d))
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        };
        let mut tx = pool.begin().await?;
        let locked: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)").bind(SWEEP_LOCK).fetch_one(&mut *tx).await?;
        if !locked {
            summary.skipped = summary.batches == 0;
            return Ok(summary);
        }
        let deleted = sqlx::query(include_str!("sql/retention_sweep.sql"))
            .bind(cutoff(config.keep_terminal_tasks.0))
            .bind(cutoff(config.keep_failed()))
            .bind(config.batch_size as i64)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        summary.batches += 1;
        summary.deleted += deleted;
        metrics::counter!("tasker_retention_deleted_tasks_total").increment(deleted);
        if deleted < config.batch_size as u64 {
            summary.placements = sweep_event_placements(
                pool,
                cutoff(config.keep_terminal_tasks.0.min(config.keep_failed())),
                config.batch_size,
            )
            .await?;
            (summary.fires, summary.events) =
                sweep_records(pool, cutoff(config.keep_terminal_tasks.0), config.batch_size).await?;
            return Ok(summary);
        }
    }
}

/// Delete the event-stream placements older than `cutoff` that no audit row needs any more, in batches.
async fn sweep_event_placements(pool: &PgPool, cutoff: DateTime<Utc>, batch_size: u32) -> Result<u64> {
    let mut deleted = 0;
    loop {
        let batch = sqlx::query(include_str!("sql/retention_event_placements.sql"))
            .bind(cutoff)
            .bind(batch_size as i64)
            .execute(pool)
            .await?
            .rows_affected();
        deleted += batch;
        if batch < batch_size as u64 {
            return Ok(deleted);
        }
    }
}

/// Delete schedule fire records and processed emitted events older than `cutoff`, in batches. Returns how many of
/// each.
async fn sweep_records(pool: &PgPool, cutoff: DateTime<Utc>, batch_size: u32) -> Result<(u64, u64)> {
    let (mut fires, mut events) = (0, 0);
    loop {
        let (f, e): (i64, i64) = sqlx::query_as(include_str!("sql/retention_records.sql"))
            .bind(cutoff)
            .bind(batch_size as i64)
            .fetch_one(pool)
            .await?;
        fires += f as u64;
        events += e as u64;
        if f < batch_size as i64 && e < batch_size as i64 {
            return Ok((fires, events));
        }
    }
}

/// Sweep every `interval` until `shutdown`.
pub async fn run(pool: PgPool, config: RetentionConfig, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(config.interval.0) => {}
        }
        match sweep(&pool, &config).await {
            Ok(s) if s.deleted > 0 => tracing::info!(deleted = s.deleted, batches = s.batches, "retention sweep"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention sweep failed; trying again next interval"),
        }
    }
}
