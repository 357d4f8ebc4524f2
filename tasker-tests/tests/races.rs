//! Several orchestrators and workers on one database: every task completes, every step completes exactly
//! once, no result is applied twice.

mod common;

use common::TestCluster;
use serde_json::json;
use sqlx::PgPool;

/// Workers settle their successes themselves (the default): the two workers race on the task locks.
#[sqlx::test(migrations = false)]
async fn two_orchestrators_two_workers_200_diamonds(pool: PgPool) {
    two_orchestrators_two_workers(pool, true).await;
}

/// Every outcome goes through the orchestrators: the two result processors race on the task locks.
#[sqlx::test(migrations = false)]
async fn two_orchestrators_two_workers_200_diamonds_all_reported(pool: PgPool) {
    two_orchestrators_two_workers(pool, false).await;
}

async fn two_orchestrators_two_workers(pool: PgPool, settle_completions: bool) {
    let mut config = common::test_config();
    config.worker.settle_completions = settle_completions;
    let c = TestCluster::start_with(pool, 2, 2, config).await;
    let mut ids = Vec::new();
    for i in 0..200u64 {
        ids.push(c.create("diamond_workflow", "diamond_pattern", json!({"even_number": 2 + 2 * (i % 5)})).await);
    }
    c.wait_all_terminal(120).await;

    let states: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, count(*) FROM tasker.tasks GROUP BY state").fetch_all(&c.pool).await.unwrap();
    assert_eq!(states, vec![("complete".to_string(), 200)]);

    // Exactly one transition to `complete` per step, and 800 steps in all.
    let per_step: Vec<(i64,)> = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE t.to_state = 'complete') FROM tasker.workflow_steps s
         LEFT JOIN tasker.step_transitions t ON t.step_uuid = s.step_uuid GROUP BY s.step_uuid",
    )
    .fetch_all(&c.pool)
    .await
    .unwrap();
    assert_eq!(per_step.len(), 800);
    assert!(per_step.iter().all(|(n,)| *n == 1), "a step completed more or less than once");

    // No result applied twice: one outcome per attempt, reported and then applied, or settled by its worker;
    // each step enqueued once.
    let (reported, applied, settled, enqueued, attempts): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM tasker.step_transitions WHERE to_state = 'enqueued_for_orchestration'),
                (SELECT count(*) FROM tasker.step_transitions WHERE from_state = 'enqueued_for_orchestration'),
                (SELECT count(*) FROM tasker.step_transitions WHERE from_state = 'in_progress' AND to_state = 'complete'),
                (SELECT count(*) FROM tasker.step_transitions WHERE to_state = 'enqueued'),
                (SELECT sum(attempts)::bigint FROM tasker.workflow_steps)",
    )
    .fetch_one(&c.pool)
    .await
    .unwrap();
    let expected = if settle_completions { (0, 0, 800) } else { (800, 800, 0) };
    assert_eq!((reported, applied, settled), expected, "reported, applied, settled by workers");
    assert_eq!((enqueued, attempts), (800, 800));

    // Each task finalized once.
    let finals: i64 = sqlx::query_scalar("SELECT count(*) FROM tasker.task_transitions WHERE to_state = 'complete'")
        .fetch_one(&c.pool)
        .await
        .unwrap();
    assert_eq!(finals, 200);

    // Every queue drained.
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM pgmq.q_worker_diamond_workflow_queue) + (SELECT count(*) FROM pgmq.q_orchestration_step_results)",
    )
    .fetch_one(&c.pool)
    .await
    .unwrap();
    assert_eq!(left, 0);
    let task = c.wait_terminal(&ids[199], 1).await;
    assert_eq!(common::value(&task, "diamond_end"), common::pow(10, 16));
    c.stop().await;
}
