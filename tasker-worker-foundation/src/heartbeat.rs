//! Lease upkeep: while handlers run, extend the lease of every held step (row and message together) so that
//! long healthy steps are not re-claimed; on shutdown, release unfinished steps so other workers take them
//! at once.

use crate::in_flight::{InFlight, InFlightStep};
use crate::Result;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::time::Duration;
use tasker_shared::messaging::{announce, extend_visibility, release_now};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The messages of `steps` whose claim still held, grouped by queue. A step whose claim was lost belongs
/// to another worker now, and so does its message: touching that message could hide or expose it under the
/// new owner's lease.
fn held_by_queue<'a>(steps: &'a [InFlightStep], held: &[Uuid]) -> BTreeMap<&'a str, Vec<i64>> {
    let mut map: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for s in steps.iter().filter(|s| held.contains(&s.step_uuid)) {
        map.entry(s.queue.as_str()).or_default().push(s.msg_id);
    }
    map
}

/// Extend the leases of `steps` by `lease_seconds` from now (only where the claim still holds). Returns the
/// claims (step, claim token) that no longer hold (their task was cancelled, or a new claim replaced them).
pub async fn extend_leases(pool: &PgPool, steps: &[InFlightStep], lease_seconds: i32) -> Result<Vec<(Uuid, Uuid)>> {
    if steps.is_empty() {
        return Ok(Vec::new());
    }
    let uuids: Vec<_> = steps.iter().map(|s| s.step_uuid).collect();
    let tokens: Vec<_> = steps.iter().map(|s| s.claim_token).collect();
    let mut tx = pool.begin().await?;
    // Rows another transaction holds are skipped, never waited for: that is this worker's own report of the
    // step (after which it needs no lease) or another worker's claim (it is theirs now). Waiting instead
    // deadlocked with a concurrent report locking the same rows in another order (seen under load: PostgreSQL
    // broke it after deadlock_timeout, 1 s). A skipped step keeps its lease: the next beat is a third of a
    // lease away. Only the messages of the steps locked here are touched, and a report locks a message only
    // after its step, so the second statement never waits on a report either.
    let held: Vec<Uuid> = sqlx::query_scalar(
        "WITH held AS (
             SELECT s.step_uuid
             FROM tasker.workflow_steps s
             JOIN unnest($1::uuid[], $2::uuid[]) AS h(step_uuid, claim_token)
               ON s.step_uuid = h.step_uuid AND s.claim_token = h.claim_token
             WHERE s.state = 'in_progress'
             ORDER BY s.step_uuid
             FOR UPDATE OF s SKIP LOCKED
         )
         UPDATE tasker.workflow_steps s SET lease_expires_at = now() + make_interval(secs => $3)
         FROM held
         WHERE s.step_uuid = held.step_uuid
         RETURNING s.step_uuid",
    )
    .bind(&uuids)
    .bind(&tokens)
    .bind(lease_seconds as f64)
    .fetch_all(&mut *tx)
    .await?;
    for (queue, ids) in held_by_queue(steps, &held) {
        extend_visibility(&mut tx, queue, &ids, lease_seconds).await?;
    }
    // Read without locks: a cancel or a re-claim clears or replaces the token (a report keeps it).
    let lost: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT h.step_uuid, h.claim_token
         FROM unnest($1::uuid[], $2::uuid[]) AS h(step_uuid, claim_token)
         LEFT JOIN tasker.workflow_steps s ON s.step_uuid = h.step_uuid
         WHERE s.claim_token IS DISTINCT FROM h.claim_token",
    )
    .bind(&uuids)
    .bind(&tokens)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(lost)
}

/// Give `steps` back (graceful shutdown): each goes back to `enqueued` with its unfinished attempt not
/// counted (so a step on its last attempt is not failed for a restart), and its message is visible now.
/// The same transaction announces the queues. Returns how many steps were released (those whose claim held).
pub async fn release(pool: &PgPool, steps: &[InFlightStep]) -> Result<usize> {
    if steps.is_empty() {
        return Ok(0);
    }
    let uuids: Vec<_> = steps.iter().map(|s| s.step_uuid).collect();
    let tokens: Vec<_> = steps.iter().map(|s| s.claim_token).collect();
    let mut tx = pool.begin().await?;
    let held: Vec<Uuid> = sqlx::query_scalar(
        "WITH released AS (
             UPDATE tasker.workflow_steps s
             SET state = 'enqueued', attempts = GREATEST(s.attempts - 1, 0), claim_token = NULL,
                 lease_expires_at = NULL, updated_at = now()
             FROM unnest($1::uuid[], $2::uuid[]) AS h(step_uuid, claim_token)
             WHERE s.step_uuid = h.step_uuid AND s.claim_token = h.claim_token AND s.state = 'in_progress'
             RETURNING s.step_uuid, s.task_uuid
         ), audit AS (
             INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason)
             SELECT step_uuid, task_uuid, 'in_progress', 'enqueued', 'released at worker shutdown' FROM released
         )
         SELECT step_uuid FROM released",
    )
    .bind(&uuids)
    .bind(&tokens)
    .fetch_all(&mut *tx)
    .await?;
    let queues = held_by_queue(steps, &held);
    for (queue, ids) in &queues {
        release_now(&mut tx, queue, ids).await?;
    }
    announce(&mut tx, &queues.keys().copied().collect::<Vec<_>>()).await?;
    tx.commit().await?;
    Ok(held.len())
}

/// Every third of a lease, extend the leases of all held steps, until `stop`.
pub async fn run_heartbeat(pool: PgPool, in_flight: InFlight, lease_seconds: i32, stop: CancellationToken) {
    let period = Duration::from_millis((lease_seconds as u64 * 1000 / 3).max(200));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        let held = in_flight.snapshot();
        match extend_leases(&pool, &held, lease_seconds).await {
            Ok(lost) if !lost.is_empty() => {
                let cancelled = in_flight.cancel(&lost);
                tracing::info!(
                    steps = cancelled,
                    "steps no longer held (task cancelled or claim lost); cancelling their handlers"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, steps = held.len(), "lease heartbeat failed"),
        }
    }
}
