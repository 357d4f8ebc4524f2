//! Queue upkeep: the orchestrator vacuums Tasker's own queue tables, and leaves other pgmq queues alone.

mod common;

use common::{component_pool, test_config};
use sqlx::PgPool;
use tasker_orchestration::queue_vacuum::vacuum_queues;
use tasker_orchestration::OrchestrationServer;
use tasker_shared::messaging::{ensure_queue, worker_queue};

async fn vacuum_count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar("SELECT vacuum_count FROM pg_stat_user_tables WHERE schemaname = 'pgmq' AND relname = $1")
        .bind(table)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn upkeep_vacuums_the_results_and_step_queues_but_not_another_applications_queue(pool: PgPool) {
    // Starting a server prepares the database (pgmq, migrations, the results queue).
    let _server = OrchestrationServer::new(component_pool(&pool, 2).await, test_config()).await.unwrap();
    ensure_queue(&pool, &worker_queue("upkeep_ns")).await.unwrap();
    ensure_queue(&pool, "billing_events").await.unwrap();
    let tables = ["q_orchestration_step_results", "q_worker_upkeep_ns_queue", "q_billing_events"];
    let mut before = Vec::new();
    for t in tables {
        before.push(vacuum_count(&pool, t).await);
    }

    vacuum_queues(&pool).await.unwrap();

    let mut vacuumed = Vec::new();
    for (t, b) in tables.iter().zip(before) {
        vacuumed.push(vacuum_count(&pool, t).await - b);
    }
    assert_eq!(vacuumed, [1, 1, 0], "vacuums of {tables:?}");
}

/// Upkeep follows the messages sent to Tasker's queues (workers that settle their own steps send and delete step
/// messages that the result processor never sees), and ignores other applications' queues.
#[sqlx::test(migrations = false)]
async fn upkeep_runs_after_step_messages_are_sent_without_any_result(pool: PgPool) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    let _server = OrchestrationServer::new(component_pool(&pool, 2).await, test_config()).await.unwrap();
    let step_queue = worker_queue("upkeep_ns");
    ensure_queue(&pool, &step_queue).await.unwrap();
    ensure_queue(&pool, "billing_events").await.unwrap();
    let send = |queue: String| {
        let pool = pool.clone();
        async move {
            sqlx::query("SELECT pgmq.send($1, '{}'::jsonb)").bind(queue).execute(&pool).await.unwrap();
        }
    };
    let activity = Arc::new(AtomicUsize::new(0));
    let seen = activity.clone();
    let stop = tokio_util::sync::CancellationToken::new();
    let upkeep = tokio::spawn(tasker_orchestration::queue_vacuum::run(
        pool.clone(),
        Duration::from_millis(100),
        stop.clone(),
        move || {
            seen.fetch_add(1, Ordering::Relaxed);
        },
    ));
    tokio::time::sleep(Duration::from_millis(350)).await;
    send("billing_events".to_string()).await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(activity.load(Ordering::Relaxed), 0, "no Tasker queue moved");

    let before = vacuum_count(&pool, "q_worker_upkeep_ns_queue").await;
    send(step_queue).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while vacuum_count(&pool, "q_worker_upkeep_ns_queue").await == before {
        assert!(tokio::time::Instant::now() < deadline, "the step queue was never vacuumed after a send");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(activity.load(Ordering::Relaxed) >= 1, "the send counted as activity");
    stop.cancel();
    upkeep.await.unwrap();
}
