//! Misbehaving handlers, in-process (server and worker on the test's database): a panic becomes a retryable
//! step error and the worker keeps serving; a handler that never returns is cut at the step timeout.

mod common;

use common::process::{assert_exactly_once, scalar};
use common::{pow, step, value, TestCluster};
use serde_json::json;
use sqlx::PgPool;

/// The worker still serves other work after what went wrong.
async fn worker_still_serves(c: &TestCluster) {
    let id = c.create("linear_workflow", "mathematical_sequence", json!({"even_number": 2})).await;
    let task = c.wait_terminal(&id, 30).await;
    assert_eq!(task["state"], "complete", "{task}");
    assert_eq!(value(&task, "linear_step_4"), pow(2, 16));
}

#[sqlx::test(migrations = false)]
async fn a_panicking_handler_is_a_retryable_error_and_the_worker_survives(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 1).await;
    // Panics on attempt 1, squares on attempt 2.
    let once = c.create("test_scenarios", "panic_once", json!({"even_number": 6, "panic_count": 1})).await;
    let task = c.wait_terminal(&once, 30).await;
    assert_eq!(task["state"], "complete", "{task}");
    let s = step(&task, "panicky_step");
    assert_eq!(s["attempts"], 2, "{s}");
    assert_eq!(value(&task, "panicky_step"), "36");
    let retried =
        scalar(&c.pool, "SELECT count(*) FROM tasker.step_transitions WHERE to_state = 'waiting_for_retry'").await;
    assert_eq!(retried, 1, "the panic was not treated as a retryable error");

    // Panics on every attempt: the step fails after its 2 attempts with the panic recorded.
    let always = c.create("test_scenarios", "panic_once", json!({"even_number": 6, "panic_count": 99})).await;
    let task = c.wait_terminal(&always, 30).await;
    assert_eq!(task["state"], "error", "{task}");
    let s = step(&task, "panicky_step");
    assert_eq!(s["attempts"], 2, "{s}");
    assert_eq!(s["state"], "error", "{s}");
    assert_eq!(s["error"]["error_class"], "Panic", "{s}");
    assert_eq!(s["error"]["retryable"], true, "{s}");
    assert!(s["error"]["message"].as_str().unwrap_or_default().contains("deliberate panic on attempt 2"), "{s}");

    worker_still_serves(&c).await;
    assert_exactly_once(&c.pool).await;
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_hanging_handler_is_cut_at_the_step_timeout(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 1).await;
    let id = c.create("test_scenarios", "hang", json!({})).await;
    let task = c.wait_terminal(&id, 60).await;
    assert_eq!(task["state"], "error", "{task}");
    let s = step(&task, "hanging_step");
    assert_eq!(s["state"], "error", "{s}");
    assert_eq!(s["attempts"], 2, "{s}");
    assert_eq!(s["error"]["error_class"], "Timeout", "{s}");
    // Each attempt was cut at about its 1 s timeout, not left to the 5 s lease: one claim per attempt, no
    // re-claim by lease expiry.
    let claims = scalar(&c.pool, "SELECT count(*) FROM tasker.step_transitions WHERE to_state = 'in_progress'").await;
    assert_eq!(claims, 2);
    let reported =
        scalar(&c.pool, "SELECT count(*) FROM tasker.step_transitions WHERE to_state = 'enqueued_for_orchestration'")
            .await;
    assert_eq!(reported, 2, "each timed-out attempt is reported once");

    worker_still_serves(&c).await;
    assert_exactly_once(&c.pool).await;
    c.stop().await;
}
