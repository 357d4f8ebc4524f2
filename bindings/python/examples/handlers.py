"""Python handlers of the example catalog (namespaces suffixed ``_py``; templates in config/templates/python).

Same step names and the same exact results as the Rust handlers. Some are classes, some decorated
functions, some ``async``: all three styles are in use here.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any, Dict, List

import tasker
from tasker import PermanentError, RetryableError, StepContext, StepHandler


def square_of_inputs(ctx: StepContext) -> Dict[str, str]:
    """value = (product of the dependencies' values, or the task's even_number for a root step)²."""
    if ctx.dependency_results:
        product = 1
        for result in ctx.dependency_results.values():
            product *= int(result["value"])
    else:
        product = int(ctx.task_context["even_number"])
    return {"value": str(product * product)}


class Square(StepHandler):
    """A class-based handler (linear, tree)."""

    def call(self, ctx: StepContext) -> Any:
        return self.success(square_of_inputs(ctx))


class AsyncSquare(StepHandler):
    """A class whose ``call`` is async (mixed DAG)."""

    async def call(self, ctx: StepContext) -> Any:
        await asyncio.sleep(0)
        return self.success(square_of_inputs(ctx))


@tasker.handler("diamond_workflow_py.square")
async def diamond_square(ctx: StepContext) -> Dict[str, str]:
    """A decorated async function (diamond)."""
    await asyncio.sleep(0)
    return square_of_inputs(ctx)


class ValidateOrder(StepHandler):
    def call(self, ctx: StepContext) -> Any:
        items: List[Dict[str, Any]] = ctx.task_context.get("items") or []
        if not items:
            raise PermanentError("order has no items")
        total = Decimal(0)
        for item in items:
            if int(item["quantity"]) < 1:
                raise PermanentError(f"item {item['sku']} has quantity {item['quantity']}")
            total += Decimal(str(item["price"])) * int(item["quantity"])
        customer = ctx.task_context.get("customer") or {}
        return self.success(
            validated=True,
            order_total=str(total.normalize()),
            item_count=sum(int(i["quantity"]) for i in items),
            customer_id=customer.get("id"),
        )


class ReserveInventory(StepHandler):
    def call(self, ctx: StepContext) -> Any:
        items = ctx.task_context["items"]
        return self.success(
            reservation_id=f"RES-{ctx.task_uuid.replace('-', '')}",
            reserved_items=[{"sku": i["sku"], "quantity": i["quantity"]} for i in items],
        )


class ProcessPayment(StepHandler):
    def call(self, ctx: StepContext) -> Any:
        validated = ctx.dependency_result("validate_order")
        if validated is None or ctx.dependency_result("reserve_inventory") is None:
            raise PermanentError("payment needs validate_order and reserve_inventory")
        method = (ctx.task_context.get("payment") or {}).get("method", "unknown")
        return self.success(
            payment_id=f"PAY-{ctx.task_uuid.replace('-', '')}",
            amount_charged=validated["order_total"],
            payment_method=method,
            status="captured",
        )


class ShipOrder(StepHandler):
    def call(self, ctx: StepContext) -> Any:
        payment = ctx.dependency_result("process_payment") or {}
        if payment.get("status") != "captured":
            raise PermanentError("payment not captured")
        method = (ctx.task_context.get("shipping") or {}).get("method", "standard")
        return self.success(
            shipping_status="label_created",
            tracking_number="TRK" + ctx.task_uuid.replace("-", "")[:12].upper(),
            shipping_method=method,
        )


class Flaky(StepHandler):
    def call(self, ctx: StepContext) -> Any:
        fail_count = int(ctx.task_context.get("fail_count", 0))
        if ctx.attempt <= fail_count:
            raise RetryableError(f"flaky failure {ctx.attempt} of {fail_count}")
        return self.success(attempts_before_success=ctx.attempt - 1)


class AlwaysFailing(StepHandler):
    def call(self, ctx: StepContext) -> Any:
        raise RetryableError(f"attempt {ctx.attempt} failed, as it always does")


class PermanentFailure(StepHandler):
    def call(self, ctx: StepContext) -> Any:
        raise PermanentError("this step can never succeed")


def noop(ctx: StepContext) -> Dict[str, bool]:
    return {"ok": True}


def polyglot_subtotal(ctx: StepContext) -> Dict[str, Any]:
    """The Python step of polyglot/priced_order (queue ``polyglot_py``); Ruby and Rust steps follow."""
    subtotal = int(ctx.task_context["unit_cents"]) * int(ctx.task_context["quantity"])
    return {"subtotal_cents": subtotal, "languages": ["python"]}


CATALOG: Dict[str, Any] = {
    "linear_workflow_py.square": Square,
    "tree_workflow_py.square": Square,
    "mixed_dag_workflow_py.square": AsyncSquare,
    "order_fulfillment_py.validate_order": ValidateOrder,
    "order_fulfillment_py.reserve_inventory": ReserveInventory,
    "order_fulfillment_py.process_payment": ProcessPayment,
    "order_fulfillment_py.ship_order": ShipOrder,
    "retry_workflow_py.flaky": Flaky,
    "retry_workflow_py.always_failing": AlwaysFailing,
    "error_workflow_py.permanent_failure": PermanentFailure,
    "bench_py.noop": noop,
    "polyglot.subtotal": polyglot_subtotal,
}


def register_catalog(worker: tasker.Worker) -> tasker.Worker:
    """Register every catalog handler (the diamond one is registered by its decorator)."""
    for name, target in CATALOG.items():
        worker.register(name, target)
    return worker
