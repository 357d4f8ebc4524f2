//! Worker faults with real processes (`tasker-server` + `tasker-worker` binaries) on a fresh database per
//! test: a worker SIGKILLed mid-step, a frozen (SIGSTOP) worker whose late result must be rejected, a long
//! healthy step that heartbeats must keep from being stolen, and SIGTERM with a step in flight.
//!
//! Needs the binaries: `cargo build --workspace --all-targets` first.

mod common;

use common::pow;
use common::process::{
    assert_exactly_once, claimers, create_task, database_url, server_and_two_workers, start_server, start_worker,
    step_row, stop_between_transactions, wait_all_terminal, wait_claimed,
};
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

async fn task_state(pool: &PgPool, task: Uuid) -> String {
    sqlx::query_scalar("SELECT state FROM tasker.tasks WHERE task_uuid = $1").bind(task).fetch_one(pool).await.unwrap()
}

async fn step_of(pool: &PgPool, task: Uuid, name: &str) -> Uuid {
    sqlx::query_scalar("SELECT step_uuid FROM tasker.workflow_steps WHERE task_uuid = $1 AND name = $2")
        .bind(task)
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn transitions_to(pool: &PgPool, step: Uuid, to_state: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM tasker.step_transitions WHERE step_uuid = $1 AND to_state = $2")
        .bind(step)
        .bind(to_state)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// How many outcomes of `step` were accepted: reported to the orchestration, or settled by a worker itself.
async fn accepted_outcomes(pool: &PgPool, step: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM tasker.step_transitions WHERE step_uuid = $1 AND from_state = 'in_progress'
         AND to_state IN ('enqueued_for_orchestration', 'complete')",
    )
    .bind(step)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Worker A is SIGKILLed while its handler sleeps: nothing acknowledges the step, its lease (2 s) expires,
/// worker B re-claims it (attempt 2) and the diamond completes with the exact result; no step completes twice.
#[sqlx::test(migrations = false)]
async fn worker_sigkilled_mid_step_loses_its_lease_and_another_worker_finishes(pool: PgPool) {
    let url = database_url(&pool).await;
    let lease = [("TASKER__WORKER__LEASE_SECONDS", "2")];
    let server = start_server("server", &url, &[]).await;
    let mut a = start_worker("worker-a", &url, &lease).await;
    let task =
        create_task(server.port, "test_scenarios", "sleepy_diamond", json!({"even_number": 4, "sleep_ms": 1500})).await;
    let killed = wait_claimed(&pool, task, Some("worker-a"), 30).await;
    a.kill();
    // The step is still held by the dead worker: in progress, one attempt, nothing reported.
    let (attempts, state, by, _) = step_row(&pool, killed).await;
    assert_eq!((attempts, state.as_str(), by.as_deref()), (1, "in_progress", Some("worker-a")));
    assert_eq!(accepted_outcomes(&pool, killed).await, 0);

    let _b = start_worker("worker-b", &url, &lease).await;
    wait_all_terminal(&pool, 60).await;
    assert_eq!(task_state(&pool, task).await, "complete");
    let end = step_of(&pool, task, "diamond_end").await;
    assert_eq!(step_row(&pool, end).await.3, Some(pow(4, 16)));
    let (attempts, state, by, _) = step_row(&pool, killed).await;
    assert_eq!((attempts, state.as_str(), by.as_deref()), (2, "complete", Some("worker-b")));
    assert_eq!(claimers(&pool, killed).await, ["worker-a", "worker-b"]);
    // Every other step ran once, on B.
    let others: Vec<(String, i32, Option<String>)> = sqlx::query_as(
        "SELECT name, attempts, claimed_by FROM tasker.workflow_steps WHERE task_uuid = $1 AND step_uuid <> $2",
    )
    .bind(task)
    .bind(killed)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(others.len(), 3);
    for (name, attempts, by) in others {
        assert_eq!((attempts, by.as_deref()), (1, Some("worker-b")), "{name}");
    }
    assert_exactly_once(&pool).await;
}

/// Worker A is frozen (SIGSTOP) mid-step, so its heartbeat stops; B re-claims the step after the lease and runs
/// it. A is resumed (SIGCONT) while B holds the claim: A's handler finishes and A reports, but its claim token
/// is stale, so its outcome is rejected. The step has exactly one accepted outcome and one completion: B's.
#[sqlx::test(migrations = false)]
async fn frozen_worker_late_result_is_rejected_by_the_claim_token(pool: PgPool) {
    let url = database_url(&pool).await;
    let lease = [("TASKER__WORKER__LEASE_SECONDS", "2")];
    let server = start_server("server", &url, &[]).await;
    let a = start_worker("worker-a", &url, &lease).await;
    let task =
        create_task(server.port, "test_scenarios", "sleepy_single", json!({"even_number": 6, "sleep_ms": 3000})).await;
    let step = wait_claimed(&pool, task, Some("worker-a"), 30).await;
    // The claim is committed before A reads its answer: give A a moment to start the handler, so that the freeze
    // lands while the handler runs (frozen before it starts, A would find its claim lost at its first heartbeat and
    // never run the handler, so there would be no late result to reject).
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_between_transactions(&a, &pool).await;

    let b = start_worker("worker-b", &url, &lease).await;
    wait_claimed(&pool, task, Some("worker-b"), 30).await;
    a.signal("CONT");

    // A wakes up, finishes its handler and tries to report under its stale claim: dropped.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !a.log().contains("claim lost before the outcome was reported") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "worker-a never reported its late result; log:\n{}",
            common::process::tail(&a.log(), 30)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_all_terminal(&pool, 60).await;
    assert_eq!(task_state(&pool, task).await, "complete");
    let (attempts, state, by, value) = step_row(&pool, step).await;
    assert_eq!(
        (attempts, state.as_str(), by.as_deref(), value),
        (2, "complete", Some("worker-b"), Some("36".to_string()))
    );
    assert_eq!(claimers(&pool, step).await, ["worker-a", "worker-b"]);
    assert_eq!(accepted_outcomes(&pool, step).await, 1);
    assert_eq!(transitions_to(&pool, step, "complete").await, 1);
    assert!(!b.log().contains("claim lost"), "the rightful owner's report was rejected");
    assert_exactly_once(&pool).await;
}

/// Two workers with a 3 s lease; one step sleeps 9 s (3 leases). The holder's heartbeat keeps extending the
/// lease, so the other worker never steals it: one claim, one attempt, one completion.
#[sqlx::test(migrations = false)]
async fn long_healthy_step_is_kept_by_heartbeats_and_never_stolen(pool: PgPool) {
    let url = database_url(&pool).await;
    let (server, _a, _b) = server_and_two_workers(&url, 3).await;
    let task =
        create_task(server.port, "test_scenarios", "sleepy_single", json!({"even_number": 8, "sleep_ms": 9000})).await;
    let step = wait_claimed(&pool, task, None, 30).await;
    let first_expiry: f64 = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM lease_expires_at)::float8 FROM tasker.workflow_steps WHERE step_uuid = $1",
    )
    .bind(step)
    .fetch_one(&pool)
    .await
    .unwrap();
    // Watch the lease move forward while the handler runs: that is the heartbeat at work.
    let mut extended = false;
    loop {
        let row: (String, Option<f64>) = sqlx::query_as(
            "SELECT state, EXTRACT(EPOCH FROM lease_expires_at)::float8 FROM tasker.workflow_steps
             WHERE step_uuid = $1",
        )
        .bind(step)
        .fetch_one(&pool)
        .await
        .unwrap();
        match row {
            (state, Some(expiry)) if state == "in_progress" => {
                if expiry > first_expiry {
                    extended = true;
                }
            }
            _ => break,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(extended, "the lease of a running step was never extended");
    wait_all_terminal(&pool, 60).await;
    assert_eq!(task_state(&pool, task).await, "complete");
    let (attempts, state, _, value) = step_row(&pool, step).await;
    assert_eq!((attempts, state.as_str(), value), (1, "complete", Some(pow(8, 2))));
    assert_eq!(claimers(&pool, step).await.len(), 1);
    assert_exactly_once(&pool).await;
}

/// SIGTERM with a step in flight and a 300 ms grace period: the worker does not wait for the 6 s handler; it
/// exits 0 and releases the step (lease expired, message visible), so worker B takes it at once rather than
/// after the 30 s lease.
#[sqlx::test(migrations = false)]
async fn sigterm_releases_an_unfinished_step_to_another_worker(pool: PgPool) {
    let url = database_url(&pool).await;
    let env = [("TASKER__WORKER__LEASE_SECONDS", "30"), ("TASKER__WORKER__SHUTDOWN_GRACE_MS", "300")];
    let server = start_server("server", &url, &[]).await;
    let mut a = start_worker("worker-a", &url, &env).await;
    let task =
        create_task(server.port, "test_scenarios", "sleepy_single", json!({"even_number": 10, "sleep_ms": 6000})).await;
    let step = wait_claimed(&pool, task, Some("worker-a"), 30).await;
    a.signal("TERM");
    // Well before the handler could have finished (it still has most of its 6 s to sleep).
    let status = a
        .wait_exit(Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("worker-a still running 5 s after SIGTERM; log:\n{}", a.log()));
    assert!(status.success(), "worker-a exited with {status}");
    let log = a.log();
    assert!(log.contains("grace period over"), "{log}");
    assert!(log.contains("released unfinished steps"), "{log}");

    // Released: back to `enqueued` with the unfinished attempt given back, message visible now, nothing reported.
    let (state, no_lease, attempts): (String, bool, i32) = sqlx::query_as(
        "SELECT state, lease_expires_at IS NULL AND claim_token IS NULL, attempts FROM tasker.workflow_steps
         WHERE step_uuid = $1",
    )
    .bind(step)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((state.as_str(), no_lease, attempts), ("enqueued", true, 0));
    let visible: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pgmq.q_worker_test_scenarios_queue WHERE vt <= clock_timestamp()")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(visible, 1, "the released step's message is not visible");

    let _b = start_worker("worker-b", &url, &env).await;
    wait_all_terminal(&pool, 60).await;
    assert_eq!(task_state(&pool, task).await, "complete");
    let (attempts, state, by, value) = step_row(&pool, step).await;
    assert_eq!((attempts, state.as_str(), by.as_deref(), value), (1, "complete", Some("worker-b"), Some(pow(10, 2))));
    assert_eq!(claimers(&pool, step).await, ["worker-a", "worker-b"]);
    // B's claim came long before A's 30 s lease would have run out.
    let gap: f64 = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM max(created_at) - min(created_at))::float8
         FROM tasker.step_transitions WHERE step_uuid = $1 AND to_state = 'in_progress'",
    )
    .bind(step)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(gap < 30.0, "B claimed {gap} s after A: it waited for the lease");
    assert_exactly_once(&pool).await;
}
