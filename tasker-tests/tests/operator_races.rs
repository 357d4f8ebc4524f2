//! Operator actions racing the engine and each other, driven by hand so that both sides really run at once:
//! a cancel racing a worker's report, a resolve racing a retry, two operators cancelling together. Whatever
//! the order, each action is applied once or refused with a conflict, and nothing of a cancelled task moves.

mod common;

use axum::http::StatusCode;
use common::{component_pool, test_config, TestCluster};
use serde_json::json;
use sqlx::PgPool;
use tasker_orchestration::result_processor::ResultProcessor;
use tasker_orchestration::OrchestrationServer;
use tasker_shared::messaging::worker_queue;
use tasker_worker_foundation::step_claimer::{claim_batch, ClaimedStep};
use tasker_worker_foundation::step_reporter::{report_batch, Completion};
use tasker_worker_foundation::StepError;
use uuid::Uuid;

const ROUNDS: usize = 8;

async fn manual_cluster(pool: &PgPool) -> (TestCluster, ResultProcessor) {
    let server = OrchestrationServer::new(component_pool(pool, 6).await, test_config()).await.unwrap();
    let processor = server.result_processor();
    (TestCluster::around(pool.clone(), server.router()), processor)
}

async fn claim_one(pool: &PgPool, namespace: &str) -> ClaimedStep {
    let mut claimed = claim_batch(pool, &worker_queue(namespace), "racer", 30, 10).await.unwrap().claimed;
    assert_eq!(claimed.len(), 1, "one step is ready");
    claimed.remove(0)
}

async fn count(pool: &PgPool, sql: &str, task: Uuid) -> i64 {
    sqlx::query_scalar(sql).bind(task).fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_cancel_racing_a_report_leaves_the_task_cancelled_and_applies_nothing(pool: PgPool) {
    let (c, processor) = manual_cluster(&pool).await;
    let mut report_won = 0;
    for _ in 0..ROUNDS {
        let task: Uuid =
            c.create("linear_workflow", "mathematical_sequence", json!({"even_number": 2})).await.parse().unwrap();
        let claimed = claim_one(&pool, "linear_workflow").await;
        let completion =
            Completion { lease: claimed.lease.clone(), task_uuid: task, outcome: Ok(json!({"value": "4"})) };
        let cancel_path = format!("/v1/tasks/{task}/cancel");
        let batch = [completion];
        let (reported, (status, body)) =
            tokio::join!(report_batch(&pool, &batch), c.post(&cancel_path, json!({"reason": "race"})));
        assert_eq!(status, StatusCode::OK, "{body}");
        report_won += reported.unwrap().accepted;
        // Whatever the report left in the results queue is taken now; it must change nothing.
        while processor.process_batch().await.unwrap().messages > 0 {}

        let states: Vec<String> =
            sqlx::query_scalar("SELECT state FROM tasker.workflow_steps WHERE task_uuid = $1 ORDER BY position")
                .bind(task)
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(states, ["cancelled"; 4], "every step cancelled, none completed or enqueued");
        assert_eq!(
            count(&pool, "SELECT count(*) FROM tasker.tasks WHERE task_uuid = $1 AND state = 'cancelled'", task).await,
            1
        );
        let enqueued_later = count(
            &pool,
            "SELECT count(*) FROM tasker.step_transitions WHERE task_uuid = $1 AND to_state IN ('complete', 'enqueued')
               AND from_state <> 'pending'",
            task,
        )
        .await;
        assert_eq!(enqueued_later, 0, "no outcome applied, nothing enqueued after the cancel");
        let task_moves = count(&pool, "SELECT count(*) FROM tasker.task_transitions WHERE task_uuid = $1", task).await;
        assert_eq!(task_moves, 2, "created, then cancelled; never moved again");
    }
    let queued: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM pgmq.q_worker_linear_workflow_queue) + (SELECT count(*) FROM pgmq.q_orchestration_step_results)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(queued, 0, "no message left behind");
    eprintln!("the report committed first in {report_won} of {ROUNDS} rounds");
}

/// A `permanent_error` task whose one step has failed: the task is `error`.
async fn failed_task(c: &TestCluster, processor: &ResultProcessor) -> (Uuid, Uuid) {
    let task: Uuid = c.create("error_workflow", "permanent_error", json!({})).await.parse().unwrap();
    let claimed = claim_one(&c.pool, "error_workflow").await;
    let step = claimed.context.step_uuid;
    let failure = Completion { lease: claimed.lease, task_uuid: task, outcome: Err(StepError::permanent("down")) };
    report_batch(&c.pool, &[failure]).await.unwrap();
    processor.process_batch().await.unwrap();
    assert_eq!(
        count(&c.pool, "SELECT count(*) FROM tasker.tasks WHERE task_uuid = $1 AND state = 'error'", task).await,
        1
    );
    (task, step)
}

#[sqlx::test(migrations = false)]
async fn a_resolve_racing_a_retry_lets_exactly_one_of_them_act(pool: PgPool) {
    let (c, processor) = manual_cluster(&pool).await;
    for _ in 0..ROUNDS {
        let (task, step) = failed_task(&c, &processor).await;
        let retry = format!("/v1/tasks/{task}/retry");
        let resolve = format!("/v1/tasks/{task}/steps/{step}/resolve");
        let ((retried, _), (resolved, _)) =
            tokio::join!(c.post(&retry, json!({})), c.post(&resolve, json!({"result": {"by": "hand"}})));
        let outcome = (retried, resolved);
        assert!(
            outcome == (StatusCode::OK, StatusCode::CONFLICT) || outcome == (StatusCode::CONFLICT, StatusCode::OK),
            "exactly one action applies: {outcome:?}"
        );
        let (task_state, step_state): (String, String) = sqlx::query_as(
            "SELECT t.state, s.state FROM tasker.tasks t JOIN tasker.workflow_steps s USING (task_uuid) WHERE t.task_uuid = $1",
        )
        .bind(task)
        .fetch_one(&pool)
        .await
        .unwrap();
        let queued = count(
            &pool,
            "SELECT count(*) FROM pgmq.q_worker_error_workflow_queue WHERE message->>'task_uuid' = $1::text",
            task,
        )
        .await;
        if retried == StatusCode::OK {
            assert_eq!((task_state.as_str(), step_state.as_str(), queued), ("steps_in_process", "enqueued", 1));
            // Take the retried step out of the way of the next round.
            sqlx::query("DELETE FROM pgmq.q_worker_error_workflow_queue").execute(&pool).await.unwrap();
        } else {
            assert_eq!((task_state.as_str(), step_state.as_str(), queued), ("complete", "resolved_manually", 0));
        }
    }
}

#[sqlx::test(migrations = false)]
async fn two_operators_cancelling_at_once_cancel_once(pool: PgPool) {
    let (c, processor) = manual_cluster(&pool).await;
    for _ in 0..ROUNDS {
        let (task, _) = failed_task(&c, &processor).await;
        let path = format!("/v1/tasks/{task}/cancel");
        let ((a, _), (b, _)) =
            tokio::join!(c.post(&path, json!({"reason": "a"})), c.post(&path, json!({"reason": "b"})));
        let mut statuses = [a, b];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
        let cancels = count(
            &pool,
            "SELECT count(*) FROM tasker.task_transitions WHERE task_uuid = $1 AND to_state = 'cancelled'",
            task,
        )
        .await;
        assert_eq!(cancels, 1);
    }
}
