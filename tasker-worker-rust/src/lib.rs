//! # tasker-worker-rust
//!
//! Native Rust handlers for the Tasker example catalog (`config/templates/`) and the `tasker-worker` binary
//! that serves them. [`catalog`] lists every handler by the name templates use.

pub mod handlers;

use std::sync::Arc;
use tasker_worker_foundation::{StepHandler, WorkerBuilder};

/// Every handler of the example catalog, by registered name.
pub fn catalog() -> Vec<(&'static str, Arc<dyn StepHandler>)> {
    use handlers::*;
    let square: Arc<dyn StepHandler> = Arc::new(math::SquareOfProduct);
    vec![
        ("linear_workflow.square", square.clone()),
        ("diamond_workflow.square", square.clone()),
        ("tree_workflow.square", square.clone()),
        ("mixed_dag_workflow.square", square),
        ("test_scenarios.sleepy_square", Arc::new(math::SleepySquare)),
        ("order_fulfillment.validate_order", Arc::new(order::ValidateOrder)),
        ("order_fulfillment.reserve_inventory", Arc::new(order::ReserveInventory)),
        ("order_fulfillment.process_payment", Arc::new(order::ProcessPayment)),
        ("order_fulfillment.ship_order", Arc::new(order::ShipOrder)),
        ("retry_workflow.flaky", Arc::new(failures::Flaky)),
        ("retry_workflow.always_failing", Arc::new(failures::AlwaysFailing)),
        ("error_workflow.permanent_failure", Arc::new(failures::PermanentFailure)),
        ("bench.noop", Arc::new(noop::Noop)),
        ("bench.sleep", Arc::new(noop::Sleep)),
        ("bench.split", Arc::new(noop::Split)),
        ("order_events.acknowledge", Arc::new(noop::Acknowledge)),
        ("test_scenarios.panic_once", Arc::new(chaos::PanicOnce)),
        ("test_scenarios.fail_until", Arc::new(chaos::FailUntil)),
        ("test_scenarios.hang", Arc::new(chaos::Hang)),
        ("polyglot.receipt", Arc::new(polyglot::Receipt)),
        ("conditional_approval.validate_request", Arc::new(approval::ValidateRequest)),
        ("conditional_approval.routing_decision", Arc::new(approval::RoutingDecision)),
        ("conditional_approval.auto_approve", Arc::new(approval::Approve("auto"))),
        ("conditional_approval.manager_approval", Arc::new(approval::Approve("manager"))),
        ("conditional_approval.finance_review", Arc::new(approval::Approve("finance"))),
        ("conditional_approval.finalize_approval", Arc::new(approval::FinalizeApproval)),
        ("batch_processing.analyze", Arc::new(batches::Analyze)),
        ("batch_processing.process_batch", Arc::new(batches::ProcessBatch)),
        ("batch_processing.aggregate", Arc::new(batches::Aggregate)),
        ("batch_processing.plan", Arc::new(batches::Plan)),
        ("batch_processing.process_items", Arc::new(batches::ProcessItems)),
        ("combined.start", Arc::new(combined::Start)),
        ("combined.count_evens", Arc::new(combined::CountParity(0, "evens"))),
        ("combined.count_odds", Arc::new(combined::CountParity(1, "odds"))),
        ("combined.choose_path", Arc::new(combined::ChoosePath)),
        ("combined.even_path", Arc::new(combined::PathBatches(0))),
        ("combined.odd_path", Arc::new(combined::PathBatches(1))),
        ("combined.sum_batch", Arc::new(combined::SumBatch)),
        ("combined.path_total", Arc::new(combined::PathTotal)),
    ]
}

/// Register the whole catalog on a worker builder.
pub fn register_catalog(mut builder: WorkerBuilder) -> WorkerBuilder {
    for (name, handler) in catalog() {
        builder = builder.register_arc(name, handler);
    }
    builder
}
