//! Exact arithmetic handlers: every math step squares the product of its inputs, where the inputs are its
//! dependencies' values or, for a root step, the task's `even_number`. Values travel as decimal strings
//! (`{"value": "1024"}`) so that n^64 stays exact.

use async_trait::async_trait;
use num_bigint::BigInt;
use serde_json::{json, Value};
use std::time::Duration;
use tasker_worker_foundation::{StepContext, StepError, StepHandler};

fn parse_value(step: &str, v: &Value) -> Result<BigInt, StepError> {
    let raw = match v.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(StepError::permanent(format!("dependency `{step}` has no `value`"))),
    };
    raw.parse().map_err(|_| StepError::permanent(format!("dependency `{step}` value `{raw}` is not an integer")))
}

/// The product of the step's inputs.
fn product_of_inputs(ctx: &StepContext) -> Result<BigInt, StepError> {
    if ctx.dependency_results.is_empty() {
        let n: i64 = ctx.context_field("even_number")?;
        return Ok(BigInt::from(n));
    }
    let mut product = BigInt::from(1);
    for (step, result) in &ctx.dependency_results {
        product *= parse_value(step, result)?;
    }
    Ok(product)
}

/// `value = (product of inputs)²`.
pub struct SquareOfProduct;

#[async_trait]
impl StepHandler for SquareOfProduct {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let p = product_of_inputs(ctx)?;
        Ok(json!({"value": (&p * &p).to_string()}))
    }
}

/// Sleeps `context.sleep_ms`, then squares like [`SquareOfProduct`]: for fault tests with steps in flight.
pub struct SleepySquare;

#[async_trait]
impl StepHandler for SleepySquare {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let sleep_ms = ctx.task_context.get("sleep_ms").and_then(Value::as_u64).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
        SquareOfProduct.call(ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;
    use uuid::Uuid;

    fn ctx(context: Value, deps: &[(&str, &str)]) -> StepContext {
        let mut dependency_results = Map::new();
        for (k, v) in deps {
            dependency_results.insert(k.to_string(), json!({"value": v}));
        }
        StepContext {
            task_uuid: Uuid::nil(),
            step_uuid: Uuid::nil(),
            step_name: "s".into(),
            handler: "h".into(),
            attempt: 1,
            max_attempts: 1,
            task_context: context,
            dependency_results,
            upstream_results: Map::new(),
            step_config: json!({}),
            timeout: Duration::from_secs(1),
            cancelled: Default::default(),
            checkpoint: None,
            checkpointer: None,
            batch_item: None,
        }
    }

    #[tokio::test]
    async fn root_squares_even_number() {
        let out = SquareOfProduct.call(&ctx(json!({"even_number": 6}), &[])).await.unwrap();
        assert_eq!(out, json!({"value": "36"}));
    }

    #[tokio::test]
    async fn squares_product_of_dependencies_exactly() {
        let big = BigInt::from(2).pow(32).to_string();
        let out = SquareOfProduct.call(&ctx(json!({}), &[("a", &big), ("b", &big)])).await.unwrap();
        assert_eq!(out["value"], json!(BigInt::from(2).pow(128).to_string()));
    }

    #[tokio::test]
    async fn missing_input_is_permanent() {
        let err = SquareOfProduct.call(&ctx(json!({}), &[])).await.unwrap_err();
        assert_eq!(err.kind, tasker_worker_foundation::StepErrorKind::Permanent);
    }
}
