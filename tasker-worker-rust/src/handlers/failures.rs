//! Handlers that fail on purpose, for the retry and error examples.

use async_trait::async_trait;
use serde_json::{json, Value};
use tasker_worker_foundation::{StepContext, StepError, StepHandler};

/// Fails with a retryable error while `attempt <= context.fail_count`, then succeeds.
pub struct Flaky;

#[async_trait]
impl StepHandler for Flaky {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let fail_count = ctx.task_context.get("fail_count").and_then(Value::as_i64).unwrap_or(0);
        if i64::from(ctx.attempt) <= fail_count {
            return Err(
                StepError::retryable(format!("flaky failure {} of {fail_count}", ctx.attempt)).with_class("FlakyError")
            );
        }
        Ok(json!({"attempts_before_success": ctx.attempt - 1}))
    }
}

/// Always fails with a retryable error, to exhaust its attempts.
pub struct AlwaysFailing;

#[async_trait]
impl StepHandler for AlwaysFailing {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        Err(StepError::retryable(format!("attempt {} failed, as it always does", ctx.attempt))
            .with_class("AlwaysFails"))
    }
}

/// Fails permanently at once.
pub struct PermanentFailure;

#[async_trait]
impl StepHandler for PermanentFailure {
    async fn call(&self, _ctx: &StepContext) -> Result<Value, StepError> {
        Err(StepError::permanent("this step can never succeed").with_class("PermanentFailure"))
    }
}
