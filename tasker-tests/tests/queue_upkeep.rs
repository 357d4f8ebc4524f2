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
