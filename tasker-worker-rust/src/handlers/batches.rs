//! `batch_processing/csv_inventory` (a batch fan-out added up by a convergence step) and
//! `batch_processing/checkpoint_resume` (a long batch that resumes from its checkpoint after a failure).

use async_trait::async_trait;
use serde_json::{json, Value};
use tasker_worker_foundation::{batches, StepContext, StepError, StepHandler};

/// Cursor ranges `[start, end)` of `size` over `total` items.
pub fn ranges(total: i64, size: i64) -> Vec<Value> {
    (0..total)
        .step_by(size.max(1) as usize)
        .map(|start| json!({"start": start, "end": (start + size).min(total)}))
        .collect()
}

/// Row `i` of the generated inventory: quantity `i % 7 + 1`, unit price `100 + (37 i mod 900)` cents.
pub fn row_value_cents(i: i64) -> i64 {
    (i % 7 + 1) * (100 + (37 * i) % 900)
}

/// `cents` as an exact decimal string (`1234.05`).
pub fn cents_to_decimal(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn batch_range(ctx: &StepContext) -> Result<(i64, i64), StepError> {
    let batch = ctx.batch().ok_or_else(|| StepError::permanent("not a batch worker instance"))?;
    let field = |k: &str| {
        batch.get(k).and_then(Value::as_i64).ok_or_else(|| StepError::permanent(format!("batch has no `{k}`")))
    };
    Ok((field("start")?, field("end")?))
}

/// Splits `rows` into ranges of `batch_size`.
pub struct Analyze;

#[async_trait]
impl StepHandler for Analyze {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let rows: i64 = ctx.context_field("rows")?;
        let size: i64 = ctx.context_field("batch_size")?;
        if size < 1 {
            return Err(StepError::permanent("batch_size must be at least 1"));
        }
        Ok(batches(ranges(rows, size)))
    }
}

/// Values the rows of its range.
pub struct ProcessBatch;

#[async_trait]
impl StepHandler for ProcessBatch {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let (start, end) = batch_range(ctx)?;
        let cents: i64 = (start..end).map(row_value_cents).sum();
        Ok(json!({"processed": end - start, "value_cents": cents}))
    }
}

/// Adds up the batches that ran.
pub struct Aggregate;

#[async_trait]
impl StepHandler for Aggregate {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let results = ctx.batch_results("process_batch");
        let processed: i64 = results.iter().filter_map(|r| r["processed"].as_i64()).sum();
        let cents: i64 = results.iter().filter_map(|r| r["value_cents"].as_i64()).sum();
        Ok(json!({"total_processed": processed, "workers": results.len(), "inventory_value": cents_to_decimal(cents)}))
    }
}

/// One batch over all `items`.
pub struct Plan;

#[async_trait]
impl StepHandler for Plan {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let items: i64 = ctx.context_field("items")?;
        Ok(batches(vec![json!({"start": 0, "end": items})]))
    }
}

/// Works through its range from the last checkpoint, saving one every `every` items; on its first attempt it
/// fails at item `fail_at`.
pub struct ProcessItems;

#[async_trait]
impl StepHandler for ProcessItems {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let (start, end) = batch_range(ctx)?;
        let every: i64 = ctx.context_field("every")?;
        // Optional knobs for fault tests: no `fail_at`, no failure; `item_ms`, time per item.
        let fail_at = ctx.task_context.get("fail_at").and_then(Value::as_i64);
        let item_ms = ctx.task_context.get("item_ms").and_then(Value::as_u64).unwrap_or(0);
        let resumed_from = ctx.checkpoint.as_ref().and_then(|c| c["next"].as_i64()).unwrap_or(start);
        for i in resumed_from..end {
            if item_ms > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(item_ms)).await;
            }
            if ctx.attempt == 1 && Some(i) == fail_at {
                return Err(StepError::retryable(format!("simulated failure at item {i}")));
            }
            if (i + 1) % every == 0 {
                ctx.save_checkpoint(json!({"next": i + 1})).await?;
            }
        }
        Ok(json!({"resumed_from": resumed_from, "processed": end - start}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_item_once() {
        assert_eq!(
            ranges(5, 2),
            vec![json!({"start": 0, "end": 2}), json!({"start": 2, "end": 4}), json!({"start": 4, "end": 5})]
        );
        assert!(ranges(0, 3).is_empty());
        assert_eq!(cents_to_decimal(123_405), "1234.05");
        assert_eq!(row_value_cents(1), 2 * 137);
    }
}
