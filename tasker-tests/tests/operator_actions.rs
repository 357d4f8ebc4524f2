//! Operator actions through the API with real workers: cancel, retry and resolve, their conflicts, and what a
//! worker still holding a cancelled step can (not) do. Races between actions, reports and settles are in
//! `operator_races.rs`.

mod common;

use axum::http::StatusCode;
use common::{step, test_config, TestCluster};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tasker_worker_foundation::{handler_fn, StepError, StepHandler};

/// A cluster whose worker also serves the `operator_tests` namespace; the returned flag opens the gate.
async fn gated_cluster(pool: PgPool) -> (TestCluster, Arc<AtomicBool>) {
    gated_cluster_seeing_cancels(pool, Arc::default()).await
}

/// [`gated_cluster`] whose `operator_tests.wait` handler sets `saw_cancel` when its token is cancelled.
async fn gated_cluster_seeing_cancels(pool: PgPool, saw_cancel: Arc<AtomicBool>) -> (TestCluster, Arc<AtomicBool>) {
    let open = Arc::new(AtomicBool::new(false));
    let gate_flag = open.clone();
    let gate: Arc<dyn StepHandler> = Arc::new(handler_fn(move |_ctx| {
        let open = gate_flag.load(Ordering::SeqCst);
        async move {
            if open {
                Ok(json!({"opened": true}))
            } else {
                Err(StepError::permanent("the gate is closed").with_class("GateClosed"))
            }
        }
    }));
    let pass: Arc<dyn StepHandler> =
        Arc::new(handler_fn(|ctx| async move { Ok(json!({"saw": Value::Object(ctx.dependency_results)})) }));
    let wait: Arc<dyn StepHandler> = Arc::new(handler_fn(move |ctx| {
        let saw_cancel = saw_cancel.clone();
        async move {
            if tokio::time::timeout(Duration::from_secs(20), ctx.cancelled.cancelled()).await.is_ok() {
                saw_cancel.store(true, Ordering::SeqCst);
            }
            Ok(json!({"waited": true}))
        }
    }));
    let handlers = vec![("operator_tests.gate", gate), ("operator_tests.pass", pass), ("operator_tests.wait", wait)];
    (TestCluster::start_with_handlers(pool, 1, 1, test_config(), handlers).await, open)
}

/// A gated task, run until it fails at its gate.
async fn failed_gated_task(c: &TestCluster) -> (String, Value) {
    let task = c.create("operator_tests", "gated", json!({})).await;
    let failed = c.wait_terminal(&task, 30).await;
    assert_eq!(failed["state"], "error", "{failed}");
    assert_eq!(step(&failed, "gated_step")["state"], "error");
    assert_eq!(step(&failed, "after_gate")["state"], "pending");
    (task, failed)
}

fn uuid_of(task: &Value, name: &str) -> String {
    step(task, name)["step_uuid"].as_str().unwrap().to_string()
}

async fn wait_for_step_state(c: &TestCluster, task: &str, name: &str, state: &str) {
    for _ in 0..500 {
        let (_, t) = c.get(&format!("/v1/tasks/{task}")).await;
        if step(&t, name)["state"] == state {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("step {name} of {task} never became {state}");
}

#[sqlx::test(migrations = false)]
async fn cancel_stops_a_running_task_and_its_worker_cannot_report_afterwards(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 1).await;
    let task = c.create("test_scenarios", "sleepy_diamond", json!({"even_number": 2, "sleep_ms": 800})).await;
    wait_for_step_state(&c, &task, "diamond_start", "in_progress").await;

    let (status, cancelled) = c.post(&format!("/v1/tasks/{task}/cancel"), json!({"reason": "customer withdrew"})).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    for s in cancelled["steps"].as_array().unwrap() {
        assert_eq!((s["state"].as_str(), s["reason"].as_str()), (Some("cancelled"), Some("customer withdrew")));
    }
    let queued: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pgmq.q_worker_test_scenarios_queue").fetch_one(&c.pool).await.unwrap();
    assert_eq!(queued, 0, "the steps' messages are deleted with the cancel");

    // The handler finishes after the cancel: its report must find the claim gone, and nothing may move again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, after) = c.get(&format!("/v1/tasks/{task}")).await;
    assert_eq!(after["state"], "cancelled");
    assert_eq!(step(&after, "diamond_start")["state"], "cancelled");
    assert_eq!(step(&after, "diamond_start")["result"], Value::Null, "the late result was not recorded");
    let moved_after_cancel: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tasker.step_transitions st
         WHERE st.task_uuid = $1::uuid
           AND st.id > (SELECT max(id) FROM tasker.step_transitions WHERE task_uuid = $1::uuid AND to_state = 'cancelled')",
    )
    .bind(&task)
    .fetch_one(&c.pool)
    .await
    .unwrap();
    assert_eq!(moved_after_cancel, 0, "no step moved after the cancel");

    let (status, again) = c.post(&format!("/v1/tasks/{task}/cancel"), json!({})).await;
    assert_eq!((status, again["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{again}");
    let (status, _) = c.post(&format!("/v1/tasks/{task}/retry"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "a cancelled task is never retried");
    let transitions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tasker.task_transitions WHERE task_uuid = $1::uuid AND to_state = 'cancelled'",
    )
    .bind(&task)
    .fetch_one(&c.pool)
    .await
    .unwrap();
    assert_eq!(transitions, 1);
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_running_handler_learns_that_its_step_was_cancelled(pool: PgPool) {
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let (c, _open) = gated_cluster_seeing_cancels(pool, saw_cancel.clone()).await;
    let task = c.create("operator_tests", "waiting", json!({})).await;
    wait_for_step_state(&c, &task, "waiting_step", "in_progress").await;
    let (status, _) = c.post(&format!("/v1/tasks/{task}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    // The next heartbeat (every third of the 5 s test lease) finds the claim gone and cancels the handler.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !saw_cancel.load(Ordering::SeqCst) {
        assert!(tokio::time::Instant::now() < deadline, "the handler was never told of the cancel");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, after) = c.get(&format!("/v1/tasks/{task}")).await;
    assert_eq!(
        (after["state"].as_str(), step(&after, "waiting_step")["result"].clone()),
        (Some("cancelled"), Value::Null)
    );
    // The worker holds nothing: a graceful stop finds no step to release or wait for.
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_failed_task_can_be_cancelled_and_a_complete_one_cannot(pool: PgPool) {
    let (c, _open) = gated_cluster(pool).await;
    let (task, _) = failed_gated_task(&c).await;
    // An empty body (no JSON at all) is fine for cancel.
    let (status, cancelled) = c.request("POST", &format!("/v1/tasks/{task}/cancel"), None).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(step(&cancelled, "gated_step")["state"], "error", "a failed step keeps its error");
    assert_eq!(step(&cancelled, "after_gate")["state"], "cancelled");
    assert_eq!(step(&cancelled, "after_gate")["reason"], "cancelled by operator");
    assert_eq!(step(&cancelled, "before_gate")["reason"], Value::Null, "a finished step has no operator reason");

    let done = c.create("linear_workflow", "mathematical_sequence", json!({"even_number": 2})).await;
    c.wait_terminal(&done, 30).await;
    let (status, body) = c.post(&format!("/v1/tasks/{done}/cancel"), json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn retry_runs_the_failed_steps_again_with_a_fresh_budget(pool: PgPool) {
    let (c, open) = gated_cluster(pool).await;
    let (task, failed) = failed_gated_task(&c).await;
    assert_eq!(step(&failed, "gated_step")["attempts"], 1);

    open.store(true, Ordering::SeqCst);
    let (status, retried) = c.post(&format!("/v1/tasks/{task}/retry"), json!({"reason": "gate fixed"})).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_ne!(retried["state"], "error");
    let done = c.wait_terminal(&task, 30).await;
    assert_eq!(done["state"], "complete", "{done}");
    let gated = step(&done, "gated_step");
    assert_eq!((gated["state"].as_str(), gated["attempts"].as_i64()), (Some("complete"), Some(1)));
    assert_eq!(gated["reason"], "gate fixed");
    assert_eq!(step(&done, "after_gate")["result"]["saw"]["gated_step"], json!({"opened": true}));
    // The first attempt stays in the audit trail.
    let claims: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tasker.step_transitions WHERE step_uuid = $1::uuid AND to_state = 'in_progress'",
    )
    .bind(uuid_of(&done, "gated_step"))
    .fetch_one(&c.pool)
    .await
    .unwrap();
    assert_eq!(claims, 2);

    let (status, body) = c.post(&format!("/v1/tasks/{task}/retry"), json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn resolve_completes_a_failed_step_by_hand_and_its_dependents_read_the_given_result(pool: PgPool) {
    let (c, _open) = gated_cluster(pool).await;
    let (task, failed) = failed_gated_task(&c).await;
    let gated = uuid_of(&failed, "gated_step");
    let path = format!("/v1/tasks/{task}/steps/{gated}/resolve");

    let (status, body) = c.post(&path, json!({"reason": "no result"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("result")));
    let (status, body) = c.post(&path, json!({"result": {"manual": 42}, "reason": ""})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")));
    let before = step(&failed, "before_gate")["step_uuid"].as_str().unwrap().to_string();
    let (status, body) =
        c.post(&format!("/v1/tasks/{task}/steps/{before}/resolve"), json!({"result": {"manual": 1}})).await;
    assert_eq!(status, StatusCode::CONFLICT, "a complete step cannot be resolved: {body}");
    let unknown = uuid::Uuid::now_v7();
    let (status, _) = c.post(&format!("/v1/tasks/{task}/steps/{unknown}/resolve"), json!({"result": 1})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, resolved) = c.post(&path, json!({"result": {"manual": 42}, "reason": "fixed by hand"})).await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(step(&resolved, "gated_step")["state"], "resolved_manually");
    assert_eq!(step(&resolved, "gated_step")["reason"], "fixed by hand");
    let done = c.wait_terminal(&task, 30).await;
    assert_eq!(done["state"], "complete", "{done}");
    assert_eq!(step(&done, "after_gate")["result"]["saw"]["gated_step"], json!({"manual": 42}));

    let (status, _) = c.post(&path, json!({"result": {"manual": 43}})).await;
    assert_eq!(status, StatusCode::CONFLICT, "a resolved step cannot be resolved again");
    let (status, _) = c.post(&format!("/v1/tasks/{task}/steps/{unknown}/resolve"), json!({"result": 1})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a step the complete task does not have is not found");
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_retry_enqueues_the_steps_behind_a_step_resolved_while_the_task_was_failed(pool: PgPool) {
    let (c, open) = gated_cluster(pool).await;
    let task = c.create("operator_tests", "two_gates", json!({})).await;
    let failed = c.wait_terminal(&task, 30).await;
    assert_eq!(failed["state"], "error", "{failed}");
    // Resolving the first gate leaves the task failed (the second gate is), and the step behind it pending.
    let first = uuid_of(&failed, "first_gate");
    let (status, resolved) =
        c.post(&format!("/v1/tasks/{task}/steps/{first}/resolve"), json!({"result": {"manual": 1}})).await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(
        (resolved["state"].as_str(), step(&resolved, "after_first")["state"].as_str()),
        (Some("error"), Some("pending"))
    );

    open.store(true, Ordering::SeqCst);
    let (status, retried) = c.post(&format!("/v1/tasks/{task}/retry"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    // The step behind the resolved gate was enqueued by the retry itself, in its transaction.
    let (same_tx,): (bool,) = sqlx::query_as(
        "SELECT (SELECT tx FROM tasker.step_transitions WHERE step_uuid = $2::uuid AND to_state = 'enqueued')
              = (SELECT tx FROM tasker.task_transitions
                 WHERE task_uuid = $1::uuid AND from_state = 'error' AND to_state = 'steps_in_process')",
    )
    .bind(&task)
    .bind(uuid_of(&failed, "after_first"))
    .fetch_one(&c.pool)
    .await
    .unwrap();
    assert!(same_tx, "after_first was not enqueued by the retry");
    let done = c.wait_terminal(&task, 30).await;
    assert_eq!(done["state"], "complete", "{done}");
    assert_eq!(step(&done, "after_first")["result"]["saw"]["first_gate"], json!({"manual": 1}));
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn actions_on_unknown_or_malformed_ids_are_client_errors(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    let unknown = uuid::Uuid::now_v7();
    for action in ["cancel", "retry"] {
        let (status, body) = c.post(&format!("/v1/tasks/{unknown}/{action}"), json!({})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
        let (status, body) = c.post(&format!("/v1/tasks/nope/{action}"), json!({})).await;
        assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("task_uuid")));
        let (status, body) = c.post(&format!("/v1/tasks/{unknown}/{action}"), json!({"reasons": "typo"})).await;
        assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reasons")));
    }
    let (status, body) = c.post(&format!("/v1/tasks/{unknown}/steps/nope/resolve"), json!({"result": 1})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("step_uuid")));
    c.stop().await;
}
