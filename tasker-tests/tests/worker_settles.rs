//! A worker settling its own successes (`step_completer::finish_batch`, `worker.settle_completions`): a
//! successful standard step goes `in_progress → complete` in the worker's transaction, under the task lock, its
//! ready dependents are enqueued and its task finalized there, with no result message; everything else (failures,
//! decisions, gated tasks, lost claims) takes the report path or is dropped, and nothing is applied twice.

mod common;

use common::{component_pool, test_config};
use serde_json::json;
use sqlx::PgPool;
use tasker_orchestration::task_initializer::{create_task, CreateTaskRequest};
use tasker_orchestration::OrchestrationServer;
use tasker_shared::messaging::worker_queue;
use tasker_worker_foundation::handler::StepError;
use tasker_worker_foundation::step_claimer::{claim_batch, ClaimedStep};
use tasker_worker_foundation::step_completer::{finish_batch, Settling};
use tasker_worker_foundation::step_reporter::Completion;
use uuid::Uuid;

async fn claim_all(pool: &PgPool, namespace: &str) -> Vec<ClaimedStep> {
    let mut steps = claim_batch(pool, &worker_queue(namespace), "w", 30, 50).await.unwrap().claimed;
    steps.sort_by(|a, b| a.context.step_name.cmp(&b.context.step_name));
    steps
}

fn names(steps: &[ClaimedStep]) -> Vec<&str> {
    steps.iter().map(|s| s.context.step_name.as_str()).collect()
}

fn success(step: &ClaimedStep, task_uuid: Uuid) -> Completion {
    Completion { lease: step.lease.clone(), task_uuid, outcome: Ok(json!({"from": step.context.step_name})) }
}

async fn scalar(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn server_and_task(pool: &PgPool, namespace: &str, name: &str, context: serde_json::Value) -> Uuid {
    let server = OrchestrationServer::new(component_pool(pool, 4).await, test_config()).await.unwrap();
    let request: CreateTaskRequest =
        serde_json::from_value(json!({"namespace": namespace, "name": name, "context": context})).unwrap();
    create_task(pool, &server.writer(), &server.catalog(), &test_config().execution, request)
        .await
        .unwrap()
        .task
        .task_uuid
}

/// (state, results) of the task's step `name`.
async fn step(pool: &PgPool, task_uuid: Uuid, name: &str) -> (String, Option<serde_json::Value>) {
    sqlx::query_as("SELECT state, results FROM tasker.workflow_steps WHERE task_uuid = $1 AND name = $2")
        .bind(task_uuid)
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_success_completes_in_the_worker_enqueues_its_dependents_and_finalizes_the_task(pool: PgPool) {
    let ns = "tree_workflow";
    let task_uuid = server_and_task(&pool, ns, "hierarchical_tree", json!({"even_number": 2})).await;
    let settling = Settling::default();
    assert!(settling.enabled, "workers settle their successes by default");

    let root = claim_all(&pool, ns).await;
    let summary = finish_batch(&pool, &[success(&root[0], task_uuid)], &settling).await.unwrap();
    assert_eq!((summary.accepted, summary.rejected), (1, 0));
    assert_eq!(step(&pool, task_uuid, "tree_root").await, ("complete".into(), Some(json!({"from": "tree_root"}))));
    let audit: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT t.from_state, t.to_state, t.reason FROM tasker.step_transitions t
         JOIN tasker.workflow_steps s ON s.step_uuid = t.step_uuid WHERE s.name = 'tree_root' ORDER BY t.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let audit: Vec<(&str, &str, &str)> = audit.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect();
    assert_eq!(
        audit[1..],
        [("enqueued", "in_progress", "claimed by w"), ("in_progress", "complete", "result applied")]
    );
    assert_eq!(scalar(&pool, "SELECT count(*) FROM pgmq.q_orchestration_step_results").await, 0, "no result message");

    // The two branches were enqueued by the worker's transaction: claimable at once, no orchestrator involved.
    let branches = claim_all(&pool, ns).await;
    assert_eq!(names(&branches), ["tree_branch_left", "tree_branch_right"]);
    let batch: Vec<Completion> = branches.iter().map(|s| success(s, task_uuid)).collect();
    finish_batch(&pool, &batch, &settling).await.unwrap();
    let leaves = claim_all(&pool, ns).await;
    assert_eq!(names(&leaves), ["tree_leaf_d", "tree_leaf_e", "tree_leaf_f", "tree_leaf_g"]);
    let batch: Vec<Completion> = leaves.iter().map(|s| success(s, task_uuid)).collect();
    finish_batch(&pool, &batch, &settling).await.unwrap();
    let last = claim_all(&pool, ns).await;
    assert_eq!(names(&last), ["tree_final_convergence"]);
    assert_eq!(last[0].context.dependency_results.len(), 4, "the convergence reads the four leaves' results");
    finish_batch(&pool, &[success(&last[0], task_uuid)], &settling).await.unwrap();

    let state: String = sqlx::query_scalar("SELECT state FROM tasker.tasks WHERE task_uuid = $1")
        .bind(task_uuid)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "complete");
    assert_eq!(scalar(&pool, "SELECT count(*) FROM tasker.task_transitions WHERE to_state = 'complete'").await, 1);
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM tasker.step_transitions WHERE to_state = 'enqueued_for_orchestration'")
            .await,
        0
    );
    assert_eq!(scalar(&pool, &format!("SELECT count(*) FROM pgmq.q_{}", worker_queue(ns))).await, 0, "acked");
}

#[sqlx::test(migrations = false)]
async fn a_lost_claim_applies_nothing_and_leaves_the_new_holders_message(pool: PgPool) {
    let ns = "tree_workflow";
    let task_uuid = server_and_task(&pool, ns, "hierarchical_tree", json!({"even_number": 2})).await;
    let root = claim_all(&pool, ns).await;
    let mut stale = success(&root[0], task_uuid);
    stale.lease.claim_token = Uuid::new_v4();
    let summary = finish_batch(&pool, &[stale], &Settling::default()).await.unwrap();
    assert_eq!((summary.accepted, summary.rejected), (0, 1));
    assert_eq!(step(&pool, task_uuid, "tree_root").await.0, "in_progress");
    assert_eq!(scalar(&pool, &format!("SELECT count(*) FROM pgmq.q_{}", worker_queue(ns))).await, 1);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM tasker.workflow_steps WHERE state = 'enqueued'").await, 0);

    // The rightful holder's outcome still settles, once; a duplicate of it is rejected.
    let good = success(&root[0], task_uuid);
    assert_eq!(finish_batch(&pool, std::slice::from_ref(&good), &Settling::default()).await.unwrap().accepted, 1);
    let again = finish_batch(&pool, &[good], &Settling::default()).await.unwrap();
    assert_eq!((again.accepted, again.rejected), (0, 1));
    assert_eq!(scalar(&pool, "SELECT count(*) FROM tasker.step_transitions WHERE to_state = 'complete'").await, 1);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM tasker.workflow_steps WHERE state = 'enqueued'").await, 2);
}

#[sqlx::test(migrations = false)]
async fn failures_decisions_and_gated_tasks_are_reported_to_the_orchestration(pool: PgPool) {
    // One batch: a failure and a success of the tree's branches; the success settles, the failure is reported.
    let ns = "tree_workflow";
    let tree = server_and_task(&pool, ns, "hierarchical_tree", json!({"even_number": 2})).await;
    let root = claim_all(&pool, ns).await;
    finish_batch(&pool, &[success(&root[0], tree)], &Settling::default()).await.unwrap();
    let branches = claim_all(&pool, ns).await;
    let failure = Completion {
        lease: branches[0].lease.clone(),
        task_uuid: tree,
        outcome: Err(StepError::permanent("broken branch")),
    };
    let summary = finish_batch(&pool, &[failure, success(&branches[1], tree)], &Settling::default()).await.unwrap();
    assert_eq!((summary.accepted, summary.rejected), (2, 0));
    assert_eq!(step(&pool, tree, "tree_branch_left").await.0, "enqueued_for_orchestration");
    assert_eq!(step(&pool, tree, "tree_branch_right").await.0, "complete");
    assert_eq!(scalar(&pool, "SELECT count(*) FROM pgmq.q_orchestration_step_results").await, 1);

    // A decision step's success is the orchestration's to apply (it creates steps).
    let approval =
        server_and_task(&pool, "conditional_approval", "approval_routing", json!({"amount": 2000, "requester": "ann"}))
            .await;
    let first = claim_all(&pool, "conditional_approval").await;
    finish_batch(&pool, &[success(&first[0], approval)], &Settling::default()).await.unwrap();
    let decision = claim_all(&pool, "conditional_approval").await;
    assert_eq!(names(&decision), ["routing_decision"]);
    let outcome = Completion {
        lease: decision[0].lease.clone(),
        task_uuid: approval,
        outcome: Ok(json!({"branches": ["manager_approval"]})),
    };
    finish_batch(&pool, &[outcome], &Settling::default()).await.unwrap();
    assert_eq!(step(&pool, approval, "routing_decision").await.0, "enqueued_for_orchestration");

    // A task under a concurrency limit: finishing it admits waiters, so its steps are reported too.
    let gated =
        server_and_task(&pool, "test_scenarios", "limited_per_customer", json!({"even_number": 2, "customer": "c1"}))
            .await;
    let only = claim_all(&pool, "test_scenarios").await;
    finish_batch(&pool, &[success(&only[0], gated)], &Settling::default()).await.unwrap();
    assert_eq!(step(&pool, gated, "sleepy_step").await.0, "enqueued_for_orchestration");

    // With settling off, a success is reported like any outcome.
    let off = Settling { enabled: false, ..Settling::default() };
    let leaves = claim_all(&pool, ns).await;
    assert_eq!(names(&leaves), ["tree_leaf_f", "tree_leaf_g"]);
    finish_batch(&pool, &[success(&leaves[0], tree)], &off).await.unwrap();
    assert_eq!(step(&pool, tree, "tree_leaf_f").await.0, "enqueued_for_orchestration");
    assert_eq!(scalar(&pool, "SELECT count(*) FROM pgmq.q_orchestration_step_results").await, 4);
}

/// The two parents of a join complete in two workers' transactions at the same moment: the task lock orders
/// them, and the second one's statement sees the first one's completion, so the join is enqueued exactly once.
#[sqlx::test(migrations = false)]
async fn racing_workers_enqueue_a_join_exactly_once(pool: PgPool) {
    let ns = "diamond_workflow";
    let mut tasks = Vec::new();
    for _ in 0..20 {
        tasks.push(server_and_task(&pool, ns, "diamond_pattern", json!({"even_number": 2})).await);
    }
    let starts = claim_all(&pool, ns).await;
    let batch: Vec<Completion> = starts.iter().map(|s| success(s, task_of(&tasks, s))).collect::<Vec<_>>();
    finish_batch(&pool, &batch, &Settling::default()).await.unwrap();
    let branches = claim_all(&pool, ns).await;
    assert_eq!(branches.len(), 40);
    // Each worker gets one branch of every diamond.
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for s in &branches {
        let c = success(s, task_of(&tasks, s));
        if s.context.step_name.ends_with("_b") {
            a.push(c)
        } else {
            b.push(c)
        }
    }
    let (pa, pb) = (component_pool(&pool, 1).await, component_pool(&pool, 1).await);
    let settling = Settling::default();
    let (ra, rb) = tokio::join!(finish_batch(&pa, &a, &settling), finish_batch(&pb, &b, &settling));
    assert_eq!(ra.unwrap().accepted + rb.unwrap().accepted, 40);
    let joins = claim_all(&pool, ns).await;
    assert_eq!(joins.len(), 20, "one join per diamond, enqueued once");
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM tasker.step_transitions WHERE to_state = 'enqueued'").await,
        20 * 4,
        "every step enqueued exactly once"
    );
}

fn task_of(tasks: &[Uuid], step: &ClaimedStep) -> Uuid {
    let t = step.context.task_uuid;
    assert!(tasks.contains(&t));
    t
}

/// A worker that re-claimed its own step (its first lease ran out) may finish a batch holding the first run's late
/// success and the second run's failure. The success is rejected (its claim is gone) and the failure reported:
/// the step is not completed, with or without a result.
#[sqlx::test(migrations = false)]
async fn a_late_success_beside_the_current_runs_failure_completes_nothing(pool: PgPool) {
    let ns = "retry_workflow";
    let task_uuid = server_and_task(&pool, ns, "retry_mechanics", json!({"fail_count": 0})).await;
    let first = claim_batch(&pool, &worker_queue(ns), "w", 1, 10).await.unwrap().claimed.remove(0);
    tokio::time::sleep(std::time::Duration::from_millis(1_600)).await;
    let second = claim_batch(&pool, &worker_queue(ns), "w", 30, 10).await.unwrap().claimed.remove(0);
    assert_ne!(first.lease.claim_token, second.lease.claim_token);

    let failed = Completion { lease: second.lease.clone(), task_uuid, outcome: Err(StepError::retryable("boom")) };
    let summary = finish_batch(&pool, &[success(&first, task_uuid), failed], &Settling::default()).await.unwrap();
    assert_eq!((summary.accepted, summary.rejected), (1, 1));
    let (state, results): (String, Option<serde_json::Value>) =
        sqlx::query_as("SELECT state, results FROM tasker.workflow_steps WHERE task_uuid = $1")
            .bind(task_uuid)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((state.as_str(), results), ("enqueued_for_orchestration", None));
    assert_eq!(scalar(&pool, "SELECT count(*) FROM tasker.step_transitions WHERE to_state = 'complete'").await, 0);
}
