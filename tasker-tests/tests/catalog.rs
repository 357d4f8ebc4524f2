//! Every example of the catalog end to end: server + worker in-process on a fresh database, exact results.

mod common;

use common::{pow, step, value, TestCluster};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn linear_workflow_squares_four_times(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 1).await;
    let id = c.create("linear_workflow", "mathematical_sequence", json!({"even_number": 6})).await;
    let task = c.wait_terminal(&id, 30).await;
    assert_eq!(task["state"], "complete");
    assert_eq!(value(&task, "linear_step_1"), "36");
    assert_eq!(value(&task, "linear_step_4"), pow(6, 16));
    assert!(task["completed_at"].is_string());
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn diamond_workflow_joins_branches(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 1).await;
    let id = c.create("diamond_workflow", "diamond_pattern", json!({"even_number": 6})).await;
    let task = c.wait_terminal(&id, 30).await;
    assert_eq!(task["state"], "complete");
    assert_eq!(value(&task, "diamond_branch_b"), pow(6, 4));
    assert_eq!(value(&task, "diamond_end"), pow(6, 16));
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn tree_and_mixed_dag_reach_n_to_the_64(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 1).await;
    let tree = c.create("tree_workflow", "hierarchical_tree", json!({"even_number": 2})).await;
    let dag = c.create("mixed_dag_workflow", "complex_dag", json!({"even_number": 4})).await;
    let tree = c.wait_terminal(&tree, 30).await;
    let dag = c.wait_terminal(&dag, 30).await;
    assert_eq!(value(&tree, "tree_final_convergence"), pow(2, 64));
    assert_eq!(value(&dag, "dag_finalize"), pow(4, 64));
    assert_eq!(value(&dag, "dag_transform"), pow(4, 8));
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn order_fulfillment_charges_the_exact_total(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 1).await;
    let context = json!({
        "customer": {"id": 1, "name": "Ada", "email": "ada@example.com"},
        "items": [{"sku": "WIDGET-001", "quantity": 2, "price": 29.99}, {"sku": "GADGET-002", "quantity": 1, "price": 149.99}],
        "payment": {"method": "credit_card", "token": "tok_test"},
        "shipping": {"method": "standard", "address": "1 Main St"}
    });
    let id = c.create("order_fulfillment", "business_workflow", context).await;
    let task = c.wait_terminal(&id, 30).await;
    assert_eq!(task["state"], "complete");
    assert_eq!(step(&task, "validate_order")["result"]["order_total"], "209.97");
    assert_eq!(step(&task, "process_payment")["result"]["amount_charged"], "209.97");
    assert_eq!(step(&task, "ship_order")["result"]["shipping_status"], "label_created");
    assert!(step(&task, "ship_order")["result"]["tracking_number"].as_str().unwrap().starts_with("TRK"));

    for (bad, field) in [
        (json!({"items": []}), "context.items"),
        (json!({"items": [{"sku": "A", "quantity": 0, "price": 1.0}]}), "context.items[0].quantity"),
    ] {
        let (status, body) = c
            .post("/v1/tasks", json!({"namespace": "order_fulfillment", "name": "business_workflow", "context": bad}))
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn retries_then_succeeds(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 1).await;
    let id = c.create("retry_workflow", "retry_mechanics", json!({"fail_count": 2})).await;
    let task = c.wait_terminal(&id, 30).await;
    assert_eq!(task["state"], "complete");
    let s = step(&task, "flaky_step");
    assert_eq!(s["attempts"], 3);
    assert_eq!(s["result"], json!({"attempts_before_success": 2}));
    let retries: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tasker.step_transitions WHERE task_uuid = $1::uuid AND to_state = 'waiting_for_retry'",
    )
    .bind(&id)
    .fetch_one(&c.pool)
    .await
    .unwrap();
    assert_eq!(retries, 2);
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn retry_exhaustion_and_permanent_errors_fail_the_task(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 1).await;
    let exhausted = c.create("retry_workflow", "retry_exhaustion", json!({})).await;
    let permanent = c.create("error_workflow", "permanent_error", json!({})).await;
    let exhausted = c.wait_terminal(&exhausted, 30).await;
    let permanent = c.wait_terminal(&permanent, 30).await;

    assert_eq!(exhausted["state"], "error");
    let s = step(&exhausted, "always_failing_step");
    assert_eq!((s["state"].as_str(), s["attempts"].as_i64()), (Some("error"), Some(3)));
    assert_eq!(s["error"]["retryable"], true);
    assert_eq!(s["error"]["error_class"], "AlwaysFails");

    assert_eq!(permanent["state"], "error");
    let s = step(&permanent, "permanent_failure_step");
    assert_eq!((s["state"].as_str(), s["attempts"].as_i64()), (Some("error"), Some(1)));
    assert_eq!(s["error"]["retryable"], false);
    c.stop().await;
}
