//! Reading the database behind a fault test: polling for conditions, queue depths, and the invariants every
//! fault test checks (each step completed, reported, applied and enqueued exactly once; queues drained).

use sqlx::PgPool;
use std::time::Duration;

/// `SELECT` one bigint.
pub async fn scalar(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Poll until `sql` (one bigint) returns a value for which `done` holds; panics after `seconds`.
pub async fn wait_for(pool: &PgPool, sql: &str, seconds: u64, done: impl Fn(i64) -> bool) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let v = scalar(pool, sql).await;
        if done(v) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after {seconds} s `{sql}` is still {v}\n{}",
            describe(pool).await
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Task and step counts by state, for failure messages.
pub async fn describe(pool: &PgPool) -> String {
    let tasks: Vec<(String, i64)> = sqlx::query_as("SELECT state, count(*) FROM tasker.tasks GROUP BY 1 ORDER BY 1")
        .fetch_all(pool)
        .await
        .unwrap_or_default();
    let steps: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, count(*) FROM tasker.workflow_steps GROUP BY 1 ORDER BY 1")
            .fetch_all(pool)
            .await
            .unwrap_or_default();
    format!("tasks by state: {tasks:?}; steps by state: {steps:?}")
}

/// Wait until every task is terminal; panics after `seconds` with the counts by state.
pub async fn wait_all_terminal(pool: &PgPool, seconds: u64) {
    wait_for(
        pool,
        "SELECT count(*) FROM tasker.tasks
         WHERE state NOT IN ('complete', 'error', 'cancelled', 'resolved_manually')",
        seconds,
        |open| open == 0,
    )
    .await;
}

/// Messages left in every pgmq queue (by queue), counting hidden ones.
pub async fn queue_depths(pool: &PgPool) -> Vec<(String, i64)> {
    let queues: Vec<String> = sqlx::query_scalar("SELECT queue_name FROM pgmq.meta ORDER BY 1")
        .fetch_all(pool)
        .await
        .expect("list pgmq queues");
    let mut out = Vec::new();
    for q in queues {
        let n = scalar(pool, &format!("SELECT count(*) FROM pgmq.q_{q}")).await;
        out.push((q, n));
    }
    out
}

/// What every fault test must find once all tasks are terminal and everything `tasks_complete` of them
/// completed: every step of a complete task has exactly ONE transition to `complete`; every step that ran was
/// enqueued exactly once (retries re-enter through `waiting_for_retry`, never a second `enqueued`); every
/// accepted report (`→ enqueued_for_orchestration`) was applied exactly once; no attempt ended in more than one
/// accepted outcome (a report, or a success the worker settled itself: `in_progress → complete`); every task was
/// finalized exactly once; and every queue is empty.
pub async fn assert_exactly_once(pool: &PgPool) {
    let bad_complete: Vec<(uuid::Uuid, String, i64)> = sqlx::query_as(
        "SELECT s.step_uuid, s.name, count(t.id) FILTER (WHERE t.to_state = 'complete')
         FROM tasker.workflow_steps s
         JOIN tasker.tasks k ON k.task_uuid = s.task_uuid AND k.state = 'complete'
         LEFT JOIN tasker.step_transitions t ON t.step_uuid = s.step_uuid
         GROUP BY 1, 2 HAVING count(t.id) FILTER (WHERE t.to_state = 'complete') <> 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(
        bad_complete.is_empty(),
        "steps of complete tasks without exactly one `complete` transition: {bad_complete:?}"
    );
    let over_complete = scalar(
        pool,
        "SELECT count(*) FROM (SELECT step_uuid FROM tasker.step_transitions WHERE to_state = 'complete'
         GROUP BY 1 HAVING count(*) > 1) d",
    )
    .await;
    assert_eq!(over_complete, 0, "a step completed twice");
    let bad_enqueue: Vec<(uuid::Uuid, String, i64)> = sqlx::query_as(
        "SELECT s.step_uuid, s.name, count(t.id) FILTER (WHERE t.from_state = 'pending' AND t.to_state = 'enqueued')
         FROM tasker.workflow_steps s
         LEFT JOIN tasker.step_transitions t ON t.step_uuid = s.step_uuid
         WHERE s.state <> 'pending'
         GROUP BY 1, 2, s.state
         HAVING count(t.id) FILTER (WHERE t.from_state = 'pending' AND t.to_state = 'enqueued')
                NOT IN (1, CASE WHEN s.state = 'cancelled' THEN 0 ELSE 1 END)",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(
        bad_enqueue.is_empty(),
        "steps enqueued other than exactly once (a cancelled one: at most once): {bad_enqueue:?}"
    );
    let (reported, applied): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE to_state = 'enqueued_for_orchestration'),
                count(*) FILTER (WHERE from_state = 'enqueued_for_orchestration')
         FROM tasker.step_transitions",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(reported, applied, "accepted reports vs applied results");
    // Every attempt is one claim, except claims given back at a worker's shutdown (those do not count as
    // attempts); an attempt ends in at most one accepted outcome (reported, or settled by the worker).
    let over_reported = scalar(
        pool,
        "SELECT count(*) FROM tasker.workflow_steps s WHERE
           (SELECT count(*) FROM tasker.step_transitions t
            WHERE t.step_uuid = s.step_uuid
              AND (t.to_state = 'enqueued_for_orchestration' OR (t.from_state = 'in_progress' AND t.to_state = 'complete'))
           ) > s.attempts
        OR (SELECT count(*) FILTER (WHERE t.to_state = 'in_progress')
                 - count(*) FILTER (WHERE t.from_state = 'in_progress' AND t.to_state = 'enqueued')
            FROM tasker.step_transitions t WHERE t.step_uuid = s.step_uuid) <> s.attempts",
    )
    .await;
    assert_eq!(over_reported, 0, "steps with more reports than attempts, or claims not matching attempts");
    let bad_finals = scalar(
        pool,
        "SELECT count(*) FROM tasker.tasks k WHERE k.state IN ('complete', 'error') AND
           (SELECT count(*) FROM tasker.task_transitions t
            WHERE t.task_uuid = k.task_uuid AND t.to_state = k.state) <> 1",
    )
    .await;
    assert_eq!(bad_finals, 0, "tasks finalized other than exactly once");
    let left: Vec<(String, i64)> = queue_depths(pool).await.into_iter().filter(|(_, n)| *n > 0).collect();
    assert!(left.is_empty(), "queues not drained: {left:?}");
}

/// One step's row: (attempts, state, claimed_by, result value).
pub async fn step_row(pool: &PgPool, step_uuid: uuid::Uuid) -> (i32, String, Option<String>, Option<String>) {
    sqlx::query_as(
        "SELECT attempts, state, claimed_by, results->>'value' FROM tasker.workflow_steps
         WHERE step_uuid = $1",
    )
    .bind(step_uuid)
    .fetch_one(pool)
    .await
    .expect("step row")
}

/// The workers that claimed a step, in claim order (from the audit trail).
pub async fn claimers(pool: &PgPool, step_uuid: uuid::Uuid) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT reason FROM tasker.step_transitions WHERE step_uuid = $1 AND to_state = 'in_progress'
         ORDER BY id",
    )
    .bind(step_uuid)
    .fetch_all(pool)
    .await
    .expect("claim transitions")
    .into_iter()
    .map(|r: String| r.trim_start_matches("claimed by ").to_string())
    .collect()
}

/// Wait until a step of `task_uuid` is `in_progress` under a claim of `worker` (any worker when `None`);
/// returns the step.
pub async fn wait_claimed(pool: &PgPool, task_uuid: uuid::Uuid, worker: Option<&str>, seconds: u64) -> uuid::Uuid {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let claimed: Option<uuid::Uuid> = sqlx::query_scalar(
            "SELECT step_uuid FROM tasker.workflow_steps
             WHERE task_uuid = $1 AND state = 'in_progress' AND claimed_by IS NOT NULL
               AND ($2::text IS NULL OR claimed_by = $2)
             ORDER BY position LIMIT 1",
        )
        .bind(task_uuid)
        .bind(worker)
        .fetch_optional(pool)
        .await
        .expect("poll claims");
        if let Some(step) = claimed {
            return step;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no step of {task_uuid} claimed by {worker:?} within {seconds} s\n{}",
            describe(pool).await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
