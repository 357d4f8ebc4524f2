//! A process frozen INSIDE one of its transactions (SIGSTOP here; in production a VM pause, a stalled host,
//! or a network partition, which PostgreSQL notices only after `tcp_keepalives_idle`, 2 h by default). Its
//! open transaction keeps its row locks and the pgmq messages it read (reads are `FOR UPDATE SKIP LOCKED`,
//! so every other reader skips them). The guarantee under test: the rest of the cluster still finishes the
//! work, and can still start new processes, while the frozen one stays frozen.
//!
//! Each test freezes a process deterministically: the test holds a row lock the process's next transaction
//! needs, waits until a session of that process waits for it (sessions carry the process name as
//! `application_name`), SIGSTOPs the process and releases the lock, so the session is left `idle in
//! transaction` with the locks and messages of a half-done transaction.
//!
//! What makes it hold: every connection sets `idle_in_transaction_session_timeout`
//! (`database.idle_in_transaction_timeout_ms`; 3 s in the test environment), so PostgreSQL ends a frozen
//! session's transaction and its locks and read messages return to the others; and start-up creates only
//! missing queues (`messaging::ensure_queue`), so a new process never waits behind a frozen transaction.
//!
//! Needs the binaries: `cargo build --workspace --all-targets` first.

mod common;

use common::process::{
    assert_exactly_once, create_task, database_url, scalar, server_and_two_workers, start_server, start_worker,
    wait_all_terminal, wait_claimed, wait_for, Proc,
};
use serde_json::json;
use sqlx::PgPool;

/// How long the rest of the cluster gets to finish while a process is frozen (well above the 30 s statement
/// timeout of the test configuration).
const FROZEN_SECONDS: u64 = 90;

/// Locks a task row: a server's next result batch for that task waits for it.
const TASK_LOCK: &str = "SELECT 1 FROM tasker.tasks WHERE task_uuid = $1 FOR UPDATE";

/// A worker that reports every outcome to the orchestration (by default it settles its successes itself): the
/// tests of a server frozen inside its result batch need results to go through one.
const REPORT_ALL: (&str, &str) = ("TASKER__WORKER__SETTLE_COMPLETIONS", "false");

/// Which of `applications` has a session waiting for a lock that session `blocker` holds (waits until one
/// does). Only a wait on the blocker counts: a session of another process may wait a moment on some other lock
/// (a claim racing a report), and freezing that process would freeze it outside any transaction.
async fn waiting_on_lock(pool: &PgPool, applications: &[&str], blocker: i32) -> String {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let waiting: Option<String> = sqlx::query_scalar(
            "SELECT application_name FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = ANY($1)
               AND wait_event_type = 'Lock' AND $2 = ANY(pg_blocking_pids(pid))
             LIMIT 1",
        )
        .bind(applications)
        .bind(blocker)
        .fetch_optional(pool)
        .await
        .unwrap();
        if let Some(name) = waiting {
            return name;
        }
        assert!(tokio::time::Instant::now() < deadline, "none of {applications:?} waited for the lock");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

async fn frozen_in_transaction(pool: &PgPool, application: &str) {
    wait_for(
        pool,
        &format!(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = '{application}'
               AND state LIKE 'idle in transaction%'"
        ),
        10,
        |n| n >= 1,
    )
    .await;
}

/// Freeze one of `candidates` inside a transaction: hold the row lock that `lock_sql` (bound to `id`) takes, wait
/// until a session of one candidate waits for it, SIGSTOP that process and release the lock, so its session is
/// left `idle in transaction` with whatever the transaction did so far. Returns the frozen process.
async fn freeze_behind_lock<'a>(pool: &PgPool, lock_sql: &str, id: uuid::Uuid, candidates: &[&'a Proc]) -> &'a Proc {
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query(lock_sql).bind(id).execute(&mut *blocker).await.unwrap();
    let blocker_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *blocker).await.unwrap();
    let names: Vec<&str> = candidates.iter().map(|p| p.name.as_str()).collect();
    let waiting = waiting_on_lock(pool, &names, blocker_pid).await;
    let frozen = candidates.iter().find(|p| p.name == waiting).expect("a candidate waits");
    frozen.signal("STOP");
    blocker.commit().await.unwrap();
    frozen_in_transaction(pool, &frozen.name).await;
    frozen
}

#[sqlx::test(migrations = false)]
async fn orchestrator_frozen_inside_its_result_batch_does_not_stall_the_others(pool: PgPool) {
    let url = database_url(&pool).await;
    let a = start_server("server-a", &url, &[]).await;
    let b = start_server("server-b", &url, &[]).await;
    let _worker = start_worker("worker", &url, &[REPORT_ALL]).await;
    let task =
        create_task(a.port, "test_scenarios", "sleepy_single", json!({"even_number": 2, "sleep_ms": 2000})).await;
    // The next result batch for this task must wait for the task row lock.
    let frozen = freeze_behind_lock(&pool, TASK_LOCK, task, &[&a, &b]).await;

    // One server sits frozen with the task locked and its result message read. The other must finish.
    wait_all_terminal(&pool, FROZEN_SECONDS).await;
    let state: String = sqlx::query_scalar("SELECT state FROM tasker.tasks WHERE task_uuid = $1")
        .bind(task)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "complete");
    frozen.signal("CONT");
    assert_exactly_once(&pool).await;
}

#[sqlx::test(migrations = false)]
async fn worker_frozen_inside_a_step_transaction_does_not_strand_the_step(pool: PgPool) {
    let url = database_url(&pool).await;
    let (server, a, b) = server_and_two_workers(&url, 2).await;
    // The step runs well past the lease, so its holder's heartbeats (not its report, a single statement that
    // would just finish once the lock goes) are what meets the held lock, however slow the machine is.
    let task =
        create_task(server.port, "test_scenarios", "sleepy_single", json!({"even_number": 2, "sleep_ms": 4000})).await;
    let step = wait_claimed(&pool, task, None, 30).await;
    // The holder's lease heartbeat (due long before the report) is a transaction of two statements: it locks and
    // extends the step row, then the message's visibility. Holding the message row makes the second statement
    // wait, inside the transaction. (Holding the step row would not: the heartbeat skips rows others hold.)
    let lock = "SELECT 1 FROM pgmq.q_worker_test_scenarios_queue WHERE (message->>'step_uuid')::uuid = $1 FOR UPDATE";
    let frozen = freeze_behind_lock(&pool, lock, step, &[&a, &b]).await;

    // One worker sits frozen holding the step row and its message; its lease runs out. The other worker must
    // finish the step.
    wait_all_terminal(&pool, FROZEN_SECONDS).await;
    let done = scalar(&pool, "SELECT count(*) FROM tasker.tasks WHERE state = 'complete'").await;
    assert_eq!(done, 1);
    frozen.signal("CONT");
    assert_exactly_once(&pool).await;
}

/// A worker settling its successes holds the task lock inside a transaction: frozen there, PostgreSQL ends the
/// transaction after `idle_in_transaction_timeout_ms` and the lock returns; the frozen worker's lease runs out and
/// the other worker runs the step again and settles it.
#[sqlx::test(migrations = false)]
async fn worker_frozen_inside_its_settling_transaction_does_not_stall_the_task(pool: PgPool) {
    let url = database_url(&pool).await;
    let (server, a, b) = server_and_two_workers(&url, 2).await;
    let task =
        create_task(server.port, "test_scenarios", "sleepy_single", json!({"even_number": 2, "sleep_ms": 500})).await;
    // The holder's settling transaction locks the task first (lock_settling_tasks.sql).
    let frozen = freeze_behind_lock(&pool, TASK_LOCK, task, &[&a, &b]).await;

    wait_all_terminal(&pool, FROZEN_SECONDS).await;
    let (state, attempts): (String, i32) = sqlx::query_as(
        "SELECT t.state, s.attempts FROM tasker.tasks t JOIN tasker.workflow_steps s USING (task_uuid)
         WHERE t.task_uuid = $1",
    )
    .bind(task)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((state.as_str(), attempts), ("complete", 2), "the other worker ran the step again");
    frozen.signal("CONT");
    assert_exactly_once(&pool).await;
}

/// A worker's claim and report are single statements, so a frozen worker holds no transaction there (its settling
/// transaction is the test above); a server's
/// result batch is a transaction that has updated the results queue when it waits for task locks. New processes
/// must start (creating only missing queues) and work while a server is frozen inside that transaction.
#[sqlx::test(migrations = false)]
async fn processes_start_while_a_server_is_frozen_inside_a_transaction(pool: PgPool) {
    let url = database_url(&pool).await;
    // The frozen transaction must outlive the whole test (no idle-in-transaction rescue here): what is tested is
    // that others start and work around it, not that it is ended.
    let a = start_server("server-a", &url, &[("TASKER__DATABASE__IDLE_IN_TRANSACTION_TIMEOUT_MS", "120000")]).await;
    let _worker_a = start_worker("worker-a", &url, &[REPORT_ALL]).await;
    let task =
        create_task(a.port, "test_scenarios", "sleepy_single", json!({"even_number": 2, "sleep_ms": 1000})).await;
    freeze_behind_lock(&pool, TASK_LOCK, task, &[&a]).await;
    // Starting must not depend on other sessions' transactions ending (start_* panic if the process exits).
    let b = start_server("server-b", &url, &[]).await;
    let _worker_b = start_worker("worker-b", &url, &[]).await;
    let other = create_task(b.port, "linear_workflow", "mathematical_sequence", json!({"even_number": 2})).await;
    wait_for(
        &pool,
        &format!("SELECT count(*) FROM tasker.tasks WHERE task_uuid = '{other}' AND state = 'complete'"),
        60,
        |n| n == 1,
    )
    .await;
    a.signal("CONT");
}
