//! Settling a result batch in one statement (`settle_steps.sql`): decisions inside one batch see each
//! other, so a branch that fails and a branch that completes in the same batch leave the task running until
//! the completed branch's successors are done, and then the task fails once.

mod common;

use common::{component_pool, test_config};
use serde_json::json;
use sqlx::PgPool;
use tasker_orchestration::task_initializer::{create_task, CreateTaskRequest};
use tasker_orchestration::OrchestrationServer;
use tasker_shared::messaging::worker_queue;
use tasker_worker_foundation::handler::StepError;
use tasker_worker_foundation::step_claimer::{claim_batch, ClaimedStep};
use tasker_worker_foundation::step_reporter::{report_batch, Completion};
use uuid::Uuid;

const NAMESPACE: &str = "tree_workflow";

async fn claim_all(pool: &PgPool) -> Vec<ClaimedStep> {
    let mut steps = claim_batch(pool, &worker_queue(NAMESPACE), "w", 30, 50).await.unwrap().claimed;
    steps.sort_by(|a, b| a.context.step_name.cmp(&b.context.step_name));
    steps
}

fn names(steps: &[ClaimedStep]) -> Vec<&str> {
    steps.iter().map(|s| s.context.step_name.as_str()).collect()
}

fn outcome(step: &ClaimedStep, task_uuid: Uuid, fail: bool) -> Completion {
    let outcome = if fail { Err(StepError::permanent("broken branch")) } else { Ok(json!({"ok": true})) };
    Completion { lease: step.lease.clone(), task_uuid, outcome }
}

async fn task_state(pool: &PgPool, task_uuid: Uuid) -> String {
    sqlx::query_scalar("SELECT state FROM tasker.tasks WHERE task_uuid = $1")
        .bind(task_uuid)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A server and one `hierarchical_tree` task (root → left, right → two leaves each → convergence).
async fn tree_task(pool: &PgPool) -> (OrchestrationServer, Uuid) {
    let server = OrchestrationServer::new(component_pool(pool, 4).await, test_config()).await.unwrap();
    let request: CreateTaskRequest = serde_json::from_value(
        json!({"namespace": NAMESPACE, "name": "hierarchical_tree", "context": {"even_number": 2}}),
    )
    .unwrap();
    let created =
        create_task(pool, &server.writer(), &server.catalog(), &test_config().execution, request).await.unwrap();
    (server, created.task.task_uuid)
}

#[sqlx::test(migrations = false)]
async fn a_failed_branch_and_a_completed_branch_in_one_batch_keep_the_task_running_until_nothing_is_active(
    pool: PgPool,
) {
    let (server, task_uuid) = tree_task(&pool).await;
    let processor = server.result_processor();

    let root = claim_all(&pool).await;
    assert_eq!(names(&root), ["tree_root"]);
    report_batch(&pool, &[outcome(&root[0], task_uuid, false)]).await.unwrap();
    let summary = processor.process_batch().await.unwrap();
    assert_eq!((summary.applied, summary.enqueued, summary.finalized), (1, 2, 0));

    // Left fails for good and right completes, reported and settled in ONE batch: right's leaves are enqueued
    // in the same statement that applies left's failure, so the task must not be finalized yet.
    let branches = claim_all(&pool).await;
    assert_eq!(names(&branches), ["tree_branch_left", "tree_branch_right"]);
    let reports = [outcome(&branches[0], task_uuid, true), outcome(&branches[1], task_uuid, false)];
    assert_eq!(report_batch(&pool, &reports).await.unwrap().accepted, 2);
    let summary = processor.process_batch().await.unwrap();
    assert_eq!((summary.messages, summary.applied, summary.enqueued, summary.finalized), (2, 2, 2, 0));
    assert_eq!(task_state(&pool, task_uuid).await, "steps_in_process");

    let leaves = claim_all(&pool).await;
    assert_eq!(names(&leaves), ["tree_leaf_f", "tree_leaf_g"], "only the completed branch's leaves run");
    let reports: Vec<Completion> = leaves.iter().map(|s| outcome(s, task_uuid, false)).collect();
    report_batch(&pool, &reports).await.unwrap();
    let summary = processor.process_batch().await.unwrap();
    assert_eq!((summary.applied, summary.enqueued, summary.finalized), (2, 0, 1));
    assert_eq!(task_state(&pool, task_uuid).await, "error");

    let states: Vec<(String, String)> =
        sqlx::query_as("SELECT name, state FROM tasker.workflow_steps WHERE task_uuid = $1 ORDER BY name")
            .bind(task_uuid)
            .fetch_all(&pool)
            .await
            .unwrap();
    let expected = [
        ("tree_branch_left", "error"),
        ("tree_branch_right", "complete"),
        ("tree_final_convergence", "pending"),
        ("tree_leaf_d", "pending"),
        ("tree_leaf_e", "pending"),
        ("tree_leaf_f", "complete"),
        ("tree_leaf_g", "complete"),
        ("tree_root", "complete"),
    ];
    let states: Vec<(&str, &str)> = states.iter().map(|(n, s)| (n.as_str(), s.as_str())).collect();
    assert_eq!(states, expected);
    let finalizations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tasker.task_transitions WHERE task_uuid = $1 AND to_state = 'error'")
            .bind(task_uuid)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(finalizations, 1);
    let left_over: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pgmq.q_orchestration_step_results").fetch_one(&pool).await.unwrap();
    assert_eq!(left_over, 0, "every result message of the settled batches is deleted");
}

#[sqlx::test(migrations = false)]
async fn a_retryable_failure_is_settled_with_a_delayed_message(pool: PgPool) {
    let (server, task_uuid) = tree_task(&pool).await;
    let root = claim_all(&pool).await;
    let failure = Completion {
        lease: root[0].lease.clone(),
        task_uuid,
        outcome: Err(StepError::retryable("try again").retry_after(std::time::Duration::from_secs(60))),
    };
    report_batch(&pool, &[failure]).await.unwrap();
    let summary = server.result_processor().process_batch().await.unwrap();
    assert_eq!((summary.applied, summary.enqueued, summary.finalized), (1, 0, 0));
    assert_eq!(summary.queues_sent, [worker_queue(NAMESPACE)]);
    let (state, due_in_s): (String, f64) = sqlx::query_as(
        "SELECT s.state, EXTRACT(EPOCH FROM m.vt - now())::float8
         FROM tasker.workflow_steps s JOIN pgmq.q_worker_tree_workflow_queue m ON (m.message->>'step_uuid')::uuid = s.step_uuid
         WHERE s.task_uuid = $1",
    )
    .bind(task_uuid)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(state, "waiting_for_retry");
    assert!((55.0..=61.0).contains(&due_in_s), "the retry message is due in about 60 s, not {due_in_s}");
    assert!(claim_all(&pool).await.is_empty(), "nothing is claimable before the retry is due");
}
