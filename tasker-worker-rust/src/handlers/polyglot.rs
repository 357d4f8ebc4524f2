//! The Rust step of `polyglot/priced_order` (config/templates/polyglot.yaml): the subtotal was computed by a
//! Python handler and the tax by a Ruby one, each on its own queue.

use async_trait::async_trait;
use serde_json::{json, Value};
use tasker_worker_foundation::{StepContext, StepError, StepHandler};

/// Adds the Ruby step's `tax_cents` to its `subtotal_cents`: `{"total_cents", "languages"}`.
pub struct Receipt;

#[async_trait]
impl StepHandler for Receipt {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let tax = ctx.dependency_result("tax")?;
        let cents = |field: &str| {
            tax.get(field)
                .and_then(Value::as_i64)
                .ok_or_else(|| StepError::permanent(format!("`tax.{field}` is missing")))
        };
        let mut languages: Vec<Value> = tax.get("languages").and_then(Value::as_array).cloned().unwrap_or_default();
        languages.push(json!("rust"));
        Ok(json!({"total_cents": cents("subtotal_cents")? + cents("tax_cents")?, "languages": languages}))
    }
}
