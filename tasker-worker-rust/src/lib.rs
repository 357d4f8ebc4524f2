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
        ("test_scenarios.panic_once", Arc::new(chaos::PanicOnce)),
        ("test_scenarios.hang", Arc::new(chaos::Hang)),
        ("polyglot.receipt", Arc::new(polyglot::Receipt)),
    ]
}

/// Register the whole catalog on a worker builder.
pub fn register_catalog(mut builder: WorkerBuilder) -> WorkerBuilder {
    for (name, handler) in catalog() {
        builder = builder.register_arc(name, handler);
    }
    builder
}
