//! The order fulfillment workflow: validate → reserve → charge → ship. Money is exact (`rust_decimal`).

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use std::str::FromStr;
use tasker_worker_foundation::{StepContext, StepError, StepHandler};

#[derive(Deserialize)]
struct Item {
    sku: String,
    quantity: i64,
    price: serde_json::Number,
}

/// Checks the items and computes the exact order total (Σ price × quantity).
pub struct ValidateOrder;

#[async_trait]
impl StepHandler for ValidateOrder {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let items: Vec<Item> = ctx.context_field("items")?;
        if items.is_empty() {
            return Err(StepError::permanent("order has no items"));
        }
        let mut total = Decimal::ZERO;
        for item in &items {
            if item.quantity < 1 {
                return Err(StepError::permanent(format!("item {} has quantity {}", item.sku, item.quantity)));
            }
            let price = Decimal::from_str(&item.price.to_string())
                .or_else(|_| Decimal::from_scientific(&item.price.to_string()))
                .map_err(|e| StepError::permanent(format!("item {} price: {e}", item.sku)))?;
            total += price * Decimal::from(item.quantity);
        }
        Ok(json!({
            "validated": true,
            "order_total": total.normalize().to_string(),
            "item_count": items.iter().map(|i| i.quantity).sum::<i64>(),
            "customer_id": ctx.task_context.pointer("/customer/id").cloned().unwrap_or(Value::Null),
        }))
    }
}

/// Reserves stock for every item.
pub struct ReserveInventory;

#[async_trait]
impl StepHandler for ReserveInventory {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let items: Vec<Item> = ctx.context_field("items")?;
        let reserved: Vec<Value> = items.iter().map(|i| json!({"sku": i.sku, "quantity": i.quantity})).collect();
        Ok(json!({"reservation_id": format!("RES-{}", ctx.task_uuid.simple()), "reserved_items": reserved}))
    }
}

/// Charges the validated total.
pub struct ProcessPayment;

#[async_trait]
impl StepHandler for ProcessPayment {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        // The template makes payment depend on validation too, so the total arrives as a dependency result.
        let total = ctx.dependency_result("validate_order")?["order_total"].clone();
        ctx.dependency_result("reserve_inventory")?;
        let method = ctx.task_context.pointer("/payment/method").and_then(Value::as_str).unwrap_or("unknown");
        Ok(json!({
            "payment_id": format!("PAY-{}", ctx.task_uuid.simple()),
            "amount_charged": total,
            "payment_method": method,
            "status": "captured",
        }))
    }
}

/// Creates the shipping label.
pub struct ShipOrder;

#[async_trait]
impl StepHandler for ShipOrder {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let payment = ctx.dependency_result("process_payment")?;
        if payment["status"] != "captured" {
            return Err(StepError::permanent("payment not captured"));
        }
        let method = ctx.task_context.pointer("/shipping/method").and_then(Value::as_str).unwrap_or("standard");
        Ok(json!({
            "shipping_status": "label_created",
            "tracking_number": format!("TRK{}", &ctx.task_uuid.simple().to_string()[..12].to_uppercase()),
            "shipping_method": method,
        }))
    }
}
