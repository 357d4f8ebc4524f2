//! A handler that does nothing, for measuring the engine itself.

use async_trait::async_trait;
use serde_json::{json, Value};
use std::time::Duration;
use tasker_worker_foundation::{StepContext, StepError, StepHandler};

/// Returns `{"ok": true}` at once.
pub struct Noop;

#[async_trait]
impl StepHandler for Noop {
    async fn call(&self, _ctx: &StepContext) -> Result<Value, StepError> {
        Ok(json!({"ok": true}))
    }
}

/// Sleeps `context.sleep_ms`, then returns `{"slept_ms": …}`: steps that stay in flight for a while.
pub struct Sleep;

#[async_trait]
impl StepHandler for Sleep {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let ms = ctx.task_context.get("sleep_ms").and_then(Value::as_u64).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(json!({"slept_ms": ms}))
    }
}

/// A batchable step that asks for `context.batches` (default 1,000) empty work items: a fan-out benchmark.
pub struct Split;

#[async_trait]
impl StepHandler for Split {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let n = ctx.task_context.get("batches").and_then(Value::as_u64).unwrap_or(1_000) as usize;
        Ok(tasker_worker_foundation::batches(vec![json!({}); n]))
    }
}

/// Acknowledges an order event: `{"acknowledged": <order_id>}`.
pub struct Acknowledge;

#[async_trait]
impl StepHandler for Acknowledge {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let order_id: i64 = ctx.context_field("order_id")?;
        Ok(json!({"acknowledged": order_id}))
    }
}
