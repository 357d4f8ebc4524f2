//! A handler that does nothing, for measuring the engine itself.

use async_trait::async_trait;
use serde_json::{json, Value};
use tasker_worker_foundation::{StepContext, StepError, StepHandler};

/// Returns `{"ok": true}` at once.
pub struct Noop;

#[async_trait]
impl StepHandler for Noop {
    async fn call(&self, _ctx: &StepContext) -> Result<Value, StepError> {
        Ok(json!({"ok": true}))
    }
}
