//! `combined/diamond_decision_batch`: a diamond counts the even and odd numbers, its join decides the path
//! (evens win ties), and the chosen path fans its numbers out in pairs and adds them up.

use async_trait::async_trait;
use serde_json::{json, Value};
use tasker_worker_foundation::{batches, decision, StepContext, StepError, StepHandler};

fn numbers(ctx: &StepContext) -> Result<Vec<i64>, StepError> {
    ctx.context_field("numbers")
}

/// Echoes how many numbers there are.
pub struct Start;

#[async_trait]
impl StepHandler for Start {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        Ok(json!({"count": numbers(ctx)?.len()}))
    }
}

/// Counts the numbers of one parity (`0` even, `1` odd) under `key`.
pub struct CountParity(pub i64, pub &'static str);

#[async_trait]
impl StepHandler for CountParity {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let n = numbers(ctx)?.iter().filter(|n| n.rem_euclid(2) == self.0).count();
        Ok(json!({ self.1: n }))
    }
}

/// The diamond's join: the even path unless there are more odd numbers.
pub struct ChoosePath;

#[async_trait]
impl StepHandler for ChoosePath {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let evens = ctx.dependency_result("count_evens")?["evens"].as_i64().unwrap_or_default();
        let odds = ctx.dependency_result("count_odds")?["odds"].as_i64().unwrap_or_default();
        Ok(decision([if evens >= odds { "even_path" } else { "odd_path" }]))
    }
}

/// A path's batchable step: its numbers (of parity `0` or `1`) in pairs.
pub struct PathBatches(pub i64);

#[async_trait]
impl StepHandler for PathBatches {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let mine: Vec<i64> = numbers(ctx)?.into_iter().filter(|n| n.rem_euclid(2) == self.0).collect();
        Ok(batches(mine.chunks(2).map(|pair| json!({"values": pair})).collect()))
    }
}

/// A batch worker: the sum of its pair.
pub struct SumBatch;

#[async_trait]
impl StepHandler for SumBatch {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let values =
            ctx.batch().and_then(|b| b["values"].as_array()).ok_or_else(|| StepError::permanent("no values"))?;
        Ok(json!({"sum": values.iter().filter_map(Value::as_i64).sum::<i64>()}))
    }
}

/// A path's convergence step: the total of its batches.
pub struct PathTotal;

#[async_trait]
impl StepHandler for PathTotal {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let path = if ctx.step_name.starts_with("even") { "even" } else { "odd" };
        let sums = ctx.batch_results(&format!("{path}_batch"));
        let total: i64 = sums.iter().filter_map(|r| r["sum"].as_i64()).sum();
        Ok(json!({"path": path, "batches": sums.len(), "total": total}))
    }
}
