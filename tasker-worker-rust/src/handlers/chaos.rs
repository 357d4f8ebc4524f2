//! Handlers that misbehave on purpose, for the fault-tolerance tests (`config/templates/test_scenarios/`).

use super::math::SquareOfProduct;
use async_trait::async_trait;
use serde_json::Value;
use tasker_worker_foundation::{StepContext, StepError, StepHandler};

/// Panics while `attempt <= context.panic_count` (default 1), then squares like [`SquareOfProduct`].
/// The worker must turn the panic into a retryable step error and keep running.
pub struct PanicOnce;

#[async_trait]
impl StepHandler for PanicOnce {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let panic_count = ctx.task_context.get("panic_count").and_then(Value::as_i64).unwrap_or(1);
        if i64::from(ctx.attempt) <= panic_count {
            panic!("chaos: deliberate panic on attempt {}", ctx.attempt);
        }
        SquareOfProduct.call(ctx).await
    }
}

/// Fails permanently (error class `NotYet`) until `context.fail_until` (RFC 3339) has passed, then squares like
/// [`SquareOfProduct`]: a task that fails, then succeeds when an operator retries it later.
pub struct FailUntil;

#[async_trait]
impl StepHandler for FailUntil {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let until: chrono::DateTime<chrono::Utc> = ctx.context_field("fail_until")?;
        if chrono::Utc::now() < until {
            return Err(StepError::permanent(format!("not before {until}")).with_class("NotYet"));
        }
        SquareOfProduct.call(ctx).await
    }
}

/// Never returns: the worker must cut it at the step timeout.
pub struct Hang;

#[async_trait]
impl StepHandler for Hang {
    async fn call(&self, _ctx: &StepContext) -> Result<Value, StepError> {
        std::future::pending::<()>().await;
        unreachable!("a pending future never completes")
    }
}
