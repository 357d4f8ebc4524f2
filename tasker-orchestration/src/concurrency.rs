//! Concurrency limits (`concurrency:` in a template, `docs/scheduling.md`). The tasks of a template with limits
//! share a gate (`namespace/name`); a task holds one of its slots while `steps_in_process`, and is created (or, when
//! delayed, becomes) `queued`. Admission runs in the transaction of whatever may free or need a slot:
//!
//! 1. lock the gates (`sql/lock_gates.sql`, advisory locks in name order),
//! 2. count the holders and read the best waiters (`sql/queued_candidates.sql`, a statement begun after the
//!    locks were granted, so it sees every change committed under them),
//! 3. choose, highest priority first and first come first served within one, each waiter whose gate and key
//!    both have a free slot,
//! 4. start the chosen tasks (`sql/start_queued_tasks.sql`) and enqueue their root steps.
//!
//! A slot is freed by the state change that ends a task (complete, error, cancelled); the transaction that makes
//! it then admits for the gate before it commits (the result processor, cancel), so no waiter is forgotten. The
//! scheduler also admits for every gate with waiters on each pass, which covers a transaction that could not.
//! An operator who retries or resolves a failed task takes a slot under the same lock ([`take_slot`]).

use crate::delayed_start::enqueue_roots;
use crate::error::{OrchestrationError, Result};
use crate::task_writer::TaskSlot;
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

/// A row of `sql/queued_candidates.sql`.
#[derive(sqlx::FromRow)]
struct CandidateRow {
    kind: String,
    gate: String,
    key: Option<String>,
    n: Option<i32>,
    task_uuid: Option<Uuid>,
    priority: Option<i32>,
    max_running: Option<i32>,
    max_running_per_key: Option<i32>,
}

/// A queued task that may get a slot.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Waiter {
    pub task_uuid: Uuid,
    pub gate: String,
    pub key: Option<String>,
    pub priority: i32,
    pub max_running: Option<i32>,
    pub max_running_per_key: Option<i32>,
}

/// Slots held per gate and per (gate, key).
#[derive(Debug, Default)]
pub(crate) struct Holders {
    per_gate: HashMap<String, i32>,
    per_key: HashMap<(String, Option<String>), i32>,
}

impl Holders {
    fn add(&mut self, gate: &str, key: &Option<String>, n: i32) {
        *self.per_gate.entry(gate.to_string()).or_default() += n;
        *self.per_key.entry((gate.to_string(), key.clone())).or_default() += n;
    }

    /// Whether a task of `gate` with `key` and these limits may take a slot now.
    fn has_room(&self, gate: &str, key: &Option<String>, max_running: Option<i32>, per_key: Option<i32>) -> bool {
        let in_gate = self.per_gate.get(gate).copied().unwrap_or(0);
        let in_key = self.per_key.get(&(gate.to_string(), key.clone())).copied().unwrap_or(0);
        max_running.is_none_or(|m| in_gate < m) && (key.is_none() || per_key.is_none_or(|m| in_key < m))
    }
}

/// Choose the waiters that start now: in priority order (highest first, then oldest), each whose gate and key
/// both have a free slot, counting the ones chosen before it.
pub(crate) fn choose(mut holders: Holders, mut waiters: Vec<Waiter>) -> Vec<Uuid> {
    waiters.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.task_uuid.cmp(&b.task_uuid)));
    let mut chosen = Vec::new();
    for w in waiters {
        if holders.has_room(&w.gate, &w.key, w.max_running, w.max_running_per_key) {
            holders.add(&w.gate, &w.key, 1);
            chosen.push(w.task_uuid);
        }
    }
    chosen
}

/// Lock `gates` for the rest of the caller's transaction.
async fn lock(conn: &mut PgConnection, gates: &[String]) -> Result<()> {
    sqlx::query(include_str!("sql/lock_gates.sql")).bind(gates).execute(conn).await?;
    Ok(())
}

/// Start as many queued tasks of `gates` as their limits allow, in the caller's transaction (see the module
/// docs); returns the started ones.
pub async fn admit(conn: &mut PgConnection, gates: &[String], priority_step: f64) -> Result<Vec<Uuid>> {
    let gates: Vec<String> = gates.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    if gates.is_empty() {
        return Ok(Vec::new());
    }
    lock(conn, &gates).await?;
    let rows: Vec<CandidateRow> =
        sqlx::query_as(include_str!("sql/queued_candidates.sql")).bind(&gates).fetch_all(&mut *conn).await?;
    let mut holders = Holders::default();
    let mut waiters = Vec::new();
    for row in rows {
        match (row.kind.as_str(), row.task_uuid) {
            ("holders", _) => holders.add(&row.gate, &row.key, row.n.unwrap_or(0)),
            (_, Some(task_uuid)) => waiters.push(Waiter {
                task_uuid,
                gate: row.gate,
                key: row.key,
                priority: row.priority.unwrap_or(0),
                max_running: row.max_running,
                max_running_per_key: row.max_running_per_key,
            }),
            _ => {}
        }
    }
    let chosen = choose(holders, waiters);
    if chosen.is_empty() {
        return Ok(chosen);
    }
    let started: Vec<(Uuid, String, Vec<String>)> =
        sqlx::query_as(include_str!("sql/start_queued_tasks.sql")).bind(&chosen).fetch_all(&mut *conn).await?;
    enqueue_roots(conn, &started, priority_step).await?;
    metrics::counter!("tasker_tasks_admitted_total").increment(started.len() as u64);
    Ok(started.into_iter().map(|(task, _, _)| task).collect())
}

/// Admit in its own transaction (after a task was created `queued`).
pub async fn admit_now(pool: &PgPool, gates: &[String], priority_step: f64) -> Result<Vec<Uuid>> {
    let mut tx = pool.begin().await?;
    let started = admit(&mut tx, gates, priority_step).await?;
    tx.commit().await?;
    Ok(started)
}

/// Admit for every gate that has queued tasks (the scheduler's pass); returns how many started.
pub async fn admit_all(pool: &PgPool, priority_step: f64) -> Result<usize> {
    let gates: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT concurrency_gate FROM tasker.tasks WHERE concurrency_gate IS NOT NULL AND state = 'queued'",
    )
    .fetch_all(pool)
    .await?;
    Ok(admit_now(pool, &gates, priority_step).await?.len())
}

/// Take a slot for the failed task `task_uuid` that an operator has just restarted in the caller's transaction
/// (retry, or a resolve that lets it run on), which holds the task's lock. A task without limits needs none. No
/// free slot answers 409 (the caller's transaction is then rolled back): the operator tries again when one of the
/// running tasks ends.
pub async fn take_slot(conn: &mut PgConnection, task_uuid: Uuid) -> Result<()> {
    let slot: Option<TaskSlot> = sqlx::query_as(
        "SELECT concurrency_gate AS gate, concurrency_key AS key, max_running, max_running_per_key
         FROM tasker.tasks WHERE task_uuid = $1 AND concurrency_gate IS NOT NULL",
    )
    .bind(task_uuid)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(TaskSlot { gate, key, max_running, max_running_per_key: per_key }) = slot else { return Ok(()) };
    lock(conn, std::slice::from_ref(&gate)).await?;
    let rows: Vec<(Option<String>, i64)> = sqlx::query_as(
        "SELECT concurrency_key, count(*) FROM tasker.tasks
         WHERE concurrency_gate = $1 AND state = 'steps_in_process' AND task_uuid <> $2 GROUP BY 1",
    )
    .bind(&gate)
    .bind(task_uuid)
    .fetch_all(&mut *conn)
    .await?;
    let mut holders = Holders::default();
    for (k, n) in &rows {
        holders.add(&gate, k, *n as i32);
    }
    if holders.has_room(&gate, &key, max_running, per_key) {
        return Ok(());
    }
    Err(OrchestrationError::Conflict(format!(
        "the task's concurrency limit is reached ({gate}{}): try again when one of its running tasks ends",
        key.map(|k| format!(", key `{k}`")).unwrap_or_default()
    )))
}

/// Queued tasks per registered namespace, zero included (the `tasker_queued_tasks` gauge).
pub async fn queued_by_namespace(pool: &PgPool) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT n.name, count(t.task_uuid) FROM tasker.namespaces n
         LEFT JOIN tasker.tasks t ON t.namespace = n.name AND t.concurrency_gate IS NOT NULL AND t.state = 'queued'
         GROUP BY 1",
    )
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(n: u128, key: Option<&str>, priority: i32, max: Option<i32>, per_key: Option<i32>) -> Waiter {
        Waiter {
            task_uuid: Uuid::from_u128(n),
            gate: "ns/t".into(),
            key: key.map(String::from),
            priority,
            max_running: max,
            max_running_per_key: per_key,
        }
    }

    #[test]
    fn a_full_key_does_not_hold_up_other_keys_and_priority_goes_first() {
        let mut holders = Holders::default();
        holders.add("ns/t", &Some("a".into()), 2);
        let waiters = vec![
            waiter(1, Some("a"), 3, None, Some(2)),
            waiter(2, Some("b"), 3, None, Some(2)),
            waiter(3, Some("b"), 1, None, Some(2)),
            waiter(4, Some("b"), 5, None, Some(2)),
        ];
        assert_eq!(choose(holders, waiters), vec![Uuid::from_u128(4), Uuid::from_u128(2)]);
    }

    #[test]
    fn the_whole_template_limit_caps_every_key() {
        let mut holders = Holders::default();
        holders.add("ns/t", &Some("a".into()), 1);
        let waiters = vec![
            waiter(1, Some("a"), 3, Some(3), Some(1)),
            waiter(2, Some("b"), 3, Some(3), Some(1)),
            waiter(3, Some("c"), 3, Some(3), Some(1)),
            waiter(4, Some("d"), 3, Some(3), Some(1)),
        ];
        assert_eq!(choose(holders, waiters), vec![Uuid::from_u128(2), Uuid::from_u128(3)]);
    }
}
