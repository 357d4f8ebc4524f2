//! Lost notifications: with `dispatch_mode = polling` for the orchestrator and the worker nobody LISTENs, so
//! every NOTIFY is lost; the fallback poll alone must drain everything.

mod common;

use common::process::{assert_exactly_once, scalar};
use common::{pow, test_config, value, TestCluster};
use serde_json::json;
use sqlx::PgPool;
use tasker_shared::config::DispatchMode;

#[sqlx::test(migrations = false)]
async fn polling_alone_drains_everything_without_notifications(pool: PgPool) {
    let mut config = test_config();
    config.worker.dispatch_mode = DispatchMode::Polling;
    config.orchestration.dispatch_mode = DispatchMode::Polling;
    let c = TestCluster::start_with(pool, 1, 1, config).await;
    let kinds = [
        ("linear_workflow", "mathematical_sequence", "linear_step_4", 16),
        ("diamond_workflow", "diamond_pattern", "diamond_end", 16),
        ("tree_workflow", "hierarchical_tree", "tree_final_convergence", 64),
    ];
    let mut ids = Vec::new();
    for i in 0..20usize {
        let (ns, name, last, power) = kinds[i % kinds.len()];
        let n = 2 + 2 * (i as u64 % 4);
        ids.push((c.create(ns, name, json!({"even_number": n})).await, last, n, power));
    }
    // Nobody listens: there is no LISTEN connection on this database at all.
    let listeners = scalar(
        &c.pool,
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .await;
    assert_eq!(listeners, 0, "polling mode must not LISTEN");
    c.wait_all_terminal(120).await;
    for (id, last, n, power) in &ids {
        let task = c.wait_terminal(id, 1).await;
        assert_eq!(task["state"], "complete", "{task}");
        assert_eq!(value(&task, last), pow(*n, *power));
    }
    assert_exactly_once(&c.pool).await;
    c.stop().await;
}
