//! Eager claims (`worker.eager_claims`): a worker that settles a success claims the steps that settle enqueued
//! into its own queues in the same transaction (the claim's audit row shares the settle's transaction id), as far
//! as it has free slots; what it leaves is announced, so a worker woken only by notifications still runs it.

mod common;

use common::audit::assert_exactly_once;
use common::{test_config, TestCluster};
use serde_json::json;
use sqlx::PgPool;
use tasker_shared::config::DispatchMode;

/// Steps of `task_uuid` whose claim was written by the transaction that completed another step of the task.
async fn claimed_where_settled(pool: &PgPool, task_uuid: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM tasker.step_transitions c
         WHERE c.task_uuid = $1::uuid AND c.to_state = 'in_progress'
           AND c.tx IN (SELECT t.tx FROM tasker.step_transitions t
                        WHERE t.task_uuid = $1::uuid AND t.to_state = 'complete' AND t.step_uuid <> c.step_uuid)",
    )
    .bind(task_uuid)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_chain_claims_each_next_step_in_the_transaction_that_completed_the_one_before(pool: PgPool) {
    let cluster = TestCluster::start(pool.clone(), 1, 1).await;
    let task = cluster.create("linear_workflow", "mathematical_sequence", json!({"even_number": 2})).await;
    let done = cluster.wait_terminal(&task, 30).await;
    assert_eq!(done["state"], "complete", "{done}");
    // Steps 2, 3 and 4, each claimed by the settle of the step before it.
    assert_eq!(claimed_where_settled(&pool, &task).await, 3);
    assert_exactly_once(&pool).await;
    cluster.stop().await;
}

#[sqlx::test(migrations = false)]
async fn without_eager_claims_every_step_is_claimed_by_the_claim_loop(pool: PgPool) {
    let mut config = test_config();
    config.worker.eager_claims = false;
    let cluster = TestCluster::start_with(pool.clone(), 1, 1, config).await;
    let task = cluster.create("linear_workflow", "mathematical_sequence", json!({"even_number": 2})).await;
    let done = cluster.wait_terminal(&task, 30).await;
    assert_eq!(done["state"], "complete", "{done}");
    assert_eq!(claimed_where_settled(&pool, &task).await, 0);
    assert_exactly_once(&pool).await;
    cluster.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_branch_the_worker_has_no_slot_for_is_announced_to_its_claim_loop(pool: PgPool) {
    // One slot, notifications only (no fallback poll), and leases far longer than the test's deadline (an idle
    // claim loop also wakes when the next hidden message, a lease, expires): the fork's second branch runs in
    // time only if it is announced. One task at a time, so no other task's notification wakes the loop.
    let mut config = test_config();
    config.worker.max_concurrency = 1;
    config.worker.lease_seconds = 120;
    config.worker.dispatch_mode = DispatchMode::EventDriven;
    let cluster = TestCluster::start_with(pool.clone(), 1, 1, config).await;
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let task = cluster.create("diamond_workflow", "diamond_pattern", json!({"even_number": 2})).await;
        let done = cluster.wait_terminal(&task, 20).await;
        assert_eq!(done["state"], "complete", "{done}");
        tasks.push(task);
    }
    // With one slot, at most one branch of each fork can be claimed eagerly (and so can the join).
    for task in &tasks {
        assert!(claimed_where_settled(&pool, task).await <= 2);
    }
    assert_exactly_once(&pool).await;
    cluster.stop().await;
}
