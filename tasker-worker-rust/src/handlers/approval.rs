//! `conditional_approval/approval_routing`: a decision routes a request by amount (< 1,000 auto; < 5,000 a
//! manager; otherwise a manager and finance); a convergence step lists who approved.

use async_trait::async_trait;
use serde_json::{json, Value};
use tasker_worker_foundation::{decision, StepContext, StepError, StepHandler};

/// Checks the request: a non-negative integer `amount` and a non-empty `requester`.
pub struct ValidateRequest;

#[async_trait]
impl StepHandler for ValidateRequest {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let amount: i64 = ctx.context_field("amount")?;
        let requester: String = ctx.context_field("requester")?;
        if amount < 0 || requester.trim().is_empty() {
            return Err(StepError::permanent("a request needs an amount >= 0 and a requester"));
        }
        Ok(json!({"amount": amount, "requester": requester}))
    }
}

/// The approvers an amount needs, as branch names.
pub fn route(amount: i64) -> Vec<&'static str> {
    match amount {
        a if a < 1_000 => vec!["auto_approve"],
        a if a < 5_000 => vec!["manager_approval"],
        _ => vec!["manager_approval", "finance_review"],
    }
}

/// The decision: which approval branches run.
pub struct RoutingDecision;

#[async_trait]
impl StepHandler for RoutingDecision {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let amount = ctx.dependency_result("validate_request")?["amount"].as_i64().unwrap_or_default();
        let mut result = decision(route(amount));
        result["amount"] = json!(amount);
        Ok(result)
    }
}

/// One approver's approval (`auto`, `manager` or `finance`).
pub struct Approve(pub &'static str);

#[async_trait]
impl StepHandler for Approve {
    async fn call(&self, _ctx: &StepContext) -> Result<Value, StepError> {
        Ok(json!({"approved": true, "approver": self.0}))
    }
}

/// The convergence: every approver of the branches that ran, sorted.
pub struct FinalizeApproval;

#[async_trait]
impl StepHandler for FinalizeApproval {
    async fn call(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let mut approvers: Vec<&str> =
            ctx.dependency_results.values().filter_map(|r| r.get("approver").and_then(Value::as_str)).collect();
        approvers.sort_unstable();
        Ok(json!({"approved_by": approvers}))
    }
}
