//! Dynamic workflows (issue 14) through the Rust catalog: decisions create only their chosen branches, batchable
//! steps fan out into numbered batch worker instances, convergence steps see exactly what was created, and an
//! invalid outcome or a passed limit fails the asking step permanently, creating nothing.

mod common;

use common::{step, test_config, TestCluster};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::sync::Arc;
use tasker_worker_foundation::{handler_fn, StepHandler};

fn names(task: &Value) -> Vec<String> {
    let mut names: Vec<String> =
        task["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect();
    names.sort();
    names
}

/// Row i of csv_inventory is worth (i % 7 + 1) × (100 + 37 i mod 900) cents.
fn inventory_cents(rows: std::ops::Range<i64>) -> i64 {
    rows.map(|i| (i % 7 + 1) * (100 + (37 * i) % 900)).sum()
}

#[sqlx::test(migrations = false)]
async fn a_decision_creates_only_the_branches_it_chooses(pool: PgPool) {
    let cluster = TestCluster::start(pool, 1, 1).await;
    let cases = [
        (500, vec!["auto_approve"], json!(["auto"])),
        (2_500, vec!["manager_approval"], json!(["manager"])),
        (7_500, vec!["finance_review", "manager_approval"], json!(["finance", "manager"])),
    ];
    for (amount, branches, approved_by) in cases {
        let uuid = cluster
            .create("conditional_approval", "approval_routing", json!({"amount": amount, "requester": "ann"}))
            .await;
        let task = cluster.wait_terminal(&uuid, 30).await;
        assert_eq!(task["state"], "complete", "{task}");
        let mut expected = vec!["finalize_approval", "routing_decision", "validate_request"];
        expected.extend(branches.iter().copied());
        expected.sort();
        assert_eq!(names(&task), expected, "amount {amount}");
        let finalize = step(&task, "finalize_approval");
        assert_eq!(finalize["result"], json!({"approved_by": approved_by}));
        assert_eq!(finalize["type"], "convergence");
        let mut waited: Vec<&str> =
            finalize["depends_on"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        waited.sort();
        assert_eq!(waited, branches, "it waited for exactly the branches that ran");
        assert_eq!(step(&task, "routing_decision")["result"]["amount"], json!(amount));
    }
    cluster.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_batchable_step_fans_out_and_the_convergence_adds_up_exactly_what_ran(pool: PgPool) {
    let cluster = TestCluster::start(pool, 1, 2).await;
    let uuid = cluster.create("batch_processing", "csv_inventory", json!({"rows": 10, "batch_size": 3})).await;
    let task = cluster.wait_terminal(&uuid, 30).await;
    assert_eq!(task["state"], "complete", "{task}");
    assert_eq!(
        names(&task),
        ["aggregate", "analyze", "process_batch_001", "process_batch_002", "process_batch_003", "process_batch_004"]
    );
    assert_eq!(
        step(&task, "process_batch_004")["result"],
        json!({"processed": 1, "value_cents": inventory_cents(9..10)})
    );
    let cents = inventory_cents(0..10);
    assert_eq!(
        step(&task, "aggregate")["result"],
        json!({"total_processed": 10, "workers": 4, "inventory_value": format!("{}.{:02}", cents / 100, cents % 100)})
    );

    let empty = cluster.create("batch_processing", "csv_inventory", json!({"rows": 0, "batch_size": 3})).await;
    let task = cluster.wait_terminal(&empty, 30).await;
    assert_eq!(names(&task), ["aggregate", "analyze"], "no batches, no workers; the convergence still runs");
    assert_eq!(
        step(&task, "aggregate")["result"],
        json!({"total_processed": 0, "workers": 0, "inventory_value": "0.00"})
    );
    common::audit::assert_exactly_once(&cluster.pool).await;
    cluster.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_batch_worker_resumes_from_its_checkpoint_after_a_failure(pool: PgPool) {
    let cluster = TestCluster::start(pool, 1, 1).await;
    let uuid = cluster
        .create("batch_processing", "checkpoint_resume", json!({"items": 100, "fail_at": 50, "every": 25}))
        .await;
    let task = cluster.wait_terminal(&uuid, 30).await;
    assert_eq!(task["state"], "complete", "{task}");
    let worker = step(&task, "process_items_001");
    assert_eq!(worker["attempts"], 2);
    assert_eq!(worker["result"], json!({"resumed_from": 50, "processed": 100}));
    assert_eq!(worker["checkpoint"], json!({"next": 100}));
    cluster.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_diamond_joins_into_a_decision_that_picks_one_batch_path(pool: PgPool) {
    let cluster = TestCluster::start(pool, 2, 2).await;
    let even = cluster.create("combined", "diamond_decision_batch", json!({"numbers": [1, 2, 3, 4, 6]})).await;
    let odd = cluster.create("combined", "diamond_decision_batch", json!({"numbers": [1, 3, 4]})).await;
    let task = cluster.wait_terminal(&even, 30).await;
    assert_eq!(task["state"], "complete", "{task}");
    let diamond = ["choose_path", "count_evens", "count_odds"];
    let mut expected: Vec<&str> = diamond.to_vec();
    expected.extend(["even_batch_001", "even_batch_002", "even_path", "even_total", "start"]);
    assert_eq!(names(&task), expected);
    assert_eq!(step(&task, "even_total")["result"], json!({"path": "even", "batches": 2, "total": 12}));
    let task = cluster.wait_terminal(&odd, 30).await;
    let mut expected: Vec<&str> = diamond.to_vec();
    expected.extend(["odd_batch_001", "odd_path", "odd_total", "start"]);
    assert_eq!(names(&task), expected);
    assert_eq!(step(&task, "odd_total")["result"], json!({"path": "odd", "batches": 1, "total": 4}));
    common::audit::assert_exactly_once(&cluster.pool).await;
    cluster.stop().await;
}

const BAD_DECISION: &str = "namespace: dyn_bad\nname: unknown_branch\nversion: '1'\nsteps:\n\
  - {name: decide, handler: dyn_bad.decide, type: decision}\n\
  - {name: yes, handler: dyn_bad.noop, depends_on: [decide]}\n\
  - {name: done, handler: dyn_bad.noop, type: convergence, depends_on: [yes]}\n";

#[sqlx::test(migrations = false)]
async fn an_invalid_outcome_or_a_passed_limit_fails_the_step_naming_why_and_creates_nothing(pool: PgPool) {
    let dir = std::env::temp_dir().join(format!("tasker-dynamic-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bad.yaml"), BAD_DECISION).unwrap();
    for file in ["conditional_approval.yaml", "csv_inventory.yaml"] {
        std::fs::copy(test_config().templates.path.join(file), dir.join(file)).unwrap();
    }
    let mut config = test_config();
    config.templates.path = dir;
    config.execution.max_batch_instances = 5;
    config.execution.max_decision_branches = 1;
    config.execution.max_steps_per_task = 6;
    let decide: Arc<dyn StepHandler> =
        Arc::new(handler_fn(|_ctx| async move { Ok(json!({"branches": ["yes", "nope"]})) }));
    let noop: Arc<dyn StepHandler> = Arc::new(handler_fn(|_ctx| async move { Ok(json!({})) }));
    let cluster =
        TestCluster::start_with_handlers(pool, 1, 1, config, vec![("dyn_bad.decide", decide), ("dyn_bad.noop", noop)])
            .await;

    let cases = [
        ("dyn_bad", "unknown_branch", json!({}), "decide", "`nope` is not a branch of decision step `decide`"),
        (
            "conditional_approval",
            "approval_routing",
            json!({"amount": 9000, "requester": "ann"}),
            "routing_decision",
            "execution.max_decision_branches",
        ),
        (
            "batch_processing",
            "csv_inventory",
            json!({"rows": 6, "batch_size": 1}),
            "analyze",
            "execution.max_batch_instances",
        ),
        (
            "batch_processing",
            "csv_inventory",
            json!({"rows": 5, "batch_size": 1}),
            "analyze",
            "execution.max_steps_per_task",
        ),
    ];
    for (namespace, name, context, asking, why) in cases {
        let before = common::audit::scalar(&cluster.pool, "SELECT count(*) FROM tasker.workflow_steps").await;
        let uuid = cluster.create(namespace, name, context).await;
        let task = cluster.wait_terminal(&uuid, 30).await;
        assert_eq!(task["state"], "error", "{task}");
        let failed = step(&task, asking);
        assert_eq!(failed["state"], "error");
        assert_eq!(failed["attempts"], 1, "permanent: not retried");
        let message = failed["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{asking}: {message}");
        assert_eq!(failed["error"]["error_class"], "InvalidDynamicOutcome");
        let created = task["steps"].as_array().unwrap().len() as i64;
        let after = common::audit::scalar(&cluster.pool, "SELECT count(*) FROM tasker.workflow_steps").await;
        assert_eq!(after - before, created, "only the task's initial steps exist");
        assert!(
            task["steps"].as_array().unwrap().iter().all(|s| s["state"] != "complete" || s["name"] != "yes"),
            "no branch of a refused decision ran"
        );
    }
    cluster.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_template_whose_dynamic_steps_cannot_work_is_refused_naming_the_field(pool: PgPool) {
    let cluster = TestCluster::start(pool, 1, 0).await;
    let cases = [
        (
            json!([{"name": "a", "handler": "h"}, {"name": "w", "handler": "h", "type": "batch_worker", "depends_on": ["a"]}]),
            "steps[1].depends_on",
        ),
        (json!([{"name": "d", "handler": "h", "type": "decision"}]), "steps[0].type"),
        (json!([{"name": "c", "handler": "h", "type": "convergence"}]), "steps[0].depends_on"),
        (json!([{"name": "x", "handler": "h", "type": "sometimes"}]), "steps[0].type"),
    ];
    for (steps, field) in cases {
        let body = json!({"namespace": "dyn_refused", "name": "t", "version": "1", "steps": steps});
        let (status, error) = cluster.post("/v1/templates", body).await;
        assert_eq!(status.as_u16(), 422, "{error}");
        assert_eq!(error["error"]["field"], field, "{error}");
    }
    let (_, listed) = cluster.get("/v1/templates").await;
    assert!(!listed.to_string().contains("dyn_refused"), "nothing was registered");
    cluster.stop().await;
}
