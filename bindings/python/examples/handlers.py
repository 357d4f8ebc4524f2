"""Python handlers of the example catalog (namespaces suffixed ``_py``; templates in config/templates/python).

Same step names and the same exact results as the Rust handlers. Some are classes, some decorated
functions, some ``async``: all three styles are in use here.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any, Callable, Dict, List, Tuple

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


# Dynamic workflows: decisions, batches and convergence (tasker-worker-rust/src/handlers/{approval,batches,combined}.rs)


class ValidateRequest(StepHandler):
    """conditional_approval: a non-negative ``amount`` and a non-blank ``requester``."""

    def call(self, ctx: StepContext) -> Any:
        amount, requester = int(ctx.task_context["amount"]), ctx.task_context["requester"]
        if amount < 0 or not isinstance(requester, str) or not requester.strip():
            raise PermanentError("a request needs an amount >= 0 and a requester")
        return self.success(amount=amount, requester=requester)


def route(amount: int) -> List[str]:
    """The approvers an amount needs, as branch names."""
    if amount < 1000:
        return ["auto_approve"]
    if amount < 5000:
        return ["manager_approval"]
    return ["manager_approval", "finance_review"]


class RoutingDecision(StepHandler):
    """The decision: which approval branches are created."""

    def call(self, ctx: StepContext) -> Any:
        amount = int((ctx.dependency_result("validate_request") or {}).get("amount", 0))
        return self.decision(route(amount), amount=amount)


def approver(name: str) -> Callable[[StepContext], Dict[str, Any]]:
    """One approver's approval (``auto``, ``manager`` or ``finance``)."""

    def approve(ctx: StepContext) -> Dict[str, Any]:
        return {"approved": True, "approver": name}

    return approve


def finalize_approval(ctx: StepContext) -> Dict[str, Any]:
    """The convergence: every approver of the branches that were created, sorted."""
    approvers = [r["approver"] for r in ctx.dependency_results.values()
                 if isinstance(r, dict) and isinstance(r.get("approver"), str)]
    return {"approved_by": sorted(approvers)}


def row_value_cents(i: int) -> int:
    """Row ``i`` of the generated inventory: quantity ``i % 7 + 1``, unit price ``100 + (37 i mod 900)`` cents."""
    return (i % 7 + 1) * (100 + (37 * i) % 900)


def batch_range(ctx: StepContext) -> Tuple[int, int]:
    """A batch worker instance's cursor range ``[start, end)``."""
    if ctx.batch is None:
        raise PermanentError("not a batch worker instance")
    for key in ("start", "end"):
        if not isinstance(ctx.batch.get(key), int):
            raise PermanentError(f"batch has no `{key}`")
    return int(ctx.batch["start"]), int(ctx.batch["end"])


class Analyze(StepHandler):
    """csv_inventory's batchable step: ``rows`` in cursor ranges of ``batch_size``."""

    def call(self, ctx: StepContext) -> Any:
        rows, size = int(ctx.task_context["rows"]), int(ctx.task_context["batch_size"])
        if size < 1:
            raise PermanentError("batch_size must be at least 1")
        return self.batches([{"start": s, "end": min(s + size, rows)} for s in range(0, rows, size)])


def process_batch(ctx: StepContext) -> Dict[str, int]:
    """A batch worker: values the rows of its range."""
    start, end = batch_range(ctx)
    return {"processed": end - start, "value_cents": sum(row_value_cents(i) for i in range(start, end))}


class Aggregate(StepHandler):
    """The convergence: adds up the batches that ran (none when there were no rows)."""

    def call(self, ctx: StepContext) -> Any:
        results = ctx.batch_results("process_batch")
        cents = sum(int(r["value_cents"]) for r in results)
        return self.success(total_processed=sum(int(r["processed"]) for r in results), workers=len(results),
                            inventory_value=f"{cents // 100}.{cents % 100:02d}")


def plan(ctx: StepContext) -> Dict[str, Any]:
    """checkpoint_resume: one batch over all ``items``."""
    return tasker.batches([{"start": 0, "end": int(ctx.task_context["items"])}])


class ProcessItems(StepHandler):
    """Works through its range from the last checkpoint, saving one every ``every`` items; on its first attempt
    it fails (retryably) at item ``fail_at``."""

    def call(self, ctx: StepContext) -> Any:
        start, end = batch_range(ctx)
        every, fail_at = int(ctx.task_context["every"]), int(ctx.task_context["fail_at"])
        resumed_from = int((ctx.checkpoint or {}).get("next", start))
        for i in range(resumed_from, end):
            if ctx.attempt == 1 and i == fail_at:
                raise RetryableError(f"simulated failure at item {i}")
            if (i + 1) % every == 0:
                ctx.save_checkpoint({"next": i + 1})
        return self.success(resumed_from=resumed_from, processed=end - start)


def numbers_of_parity(ctx: StepContext, parity: int) -> List[int]:
    """The task's ``numbers`` that are even (``parity`` 0) or odd (1), in order."""
    return [int(n) for n in ctx.task_context["numbers"] if int(n) % 2 == parity]


def combined_start(ctx: StepContext) -> Dict[str, int]:
    return {"count": len(ctx.task_context["numbers"])}


class CountParity(StepHandler):
    """Counts the numbers of one parity under ``key``."""

    def __init__(self, parity: int, key: str) -> None:
        self.parity, self.key = parity, key

    def call(self, ctx: StepContext) -> Any:
        return self.success({self.key: len(numbers_of_parity(ctx, self.parity))})


@tasker.handler("combined_py.choose_path")
def choose_path(ctx: StepContext) -> Dict[str, Any]:
    """The diamond's join, a decorated decision: the even path unless there are more odd numbers."""
    evens = int(ctx.dependency_result("count_evens")["evens"])
    odds = int(ctx.dependency_result("count_odds")["odds"])
    return tasker.decision(["even_path"] if evens >= odds else ["odd_path"])


class PathBatches(StepHandler):
    """A path's batchable step: its numbers in pairs (the last may be alone)."""

    def __init__(self, parity: int) -> None:
        self.parity = parity

    def call(self, ctx: StepContext) -> Any:
        mine = numbers_of_parity(ctx, self.parity)
        return self.batches([{"values": mine[i:i + 2]} for i in range(0, len(mine), 2)])


async def sum_batch(ctx: StepContext) -> Dict[str, int]:
    """A batch worker (async): the sum of its pair."""
    if ctx.batch is None or not isinstance(ctx.batch.get("values"), list):
        raise PermanentError("no values")
    await asyncio.sleep(0)
    return {"sum": sum(int(v) for v in ctx.batch["values"])}


def path_total(ctx: StepContext) -> Dict[str, Any]:
    """A path's convergence step: the total of the batches that ran."""
    path = "even" if ctx.step_name.startswith("even") else "odd"
    sums = ctx.batch_results(f"{path}_batch")
    return {"path": path, "batches": len(sums), "total": sum(int(r["sum"]) for r in sums)}


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
    "conditional_approval_py.validate_request": ValidateRequest,
    "conditional_approval_py.routing_decision": RoutingDecision,
    "conditional_approval_py.auto_approve": approver("auto"),
    "conditional_approval_py.manager_approval": approver("manager"),
    "conditional_approval_py.finance_review": approver("finance"),
    "conditional_approval_py.finalize_approval": finalize_approval,
    "batch_processing_py.analyze": Analyze,
    "batch_processing_py.process_batch": process_batch,
    "batch_processing_py.aggregate": Aggregate,
    "batch_processing_py.plan": plan,
    "batch_processing_py.process_items": ProcessItems,
    "combined_py.start": combined_start,
    "combined_py.count_evens": CountParity(0, "evens"),
    "combined_py.count_odds": CountParity(1, "odds"),
    "combined_py.even_path": PathBatches(0),
    "combined_py.odd_path": PathBatches(1),
    "combined_py.sum_batch": sum_batch,
    "combined_py.path_total": path_total,
}


def register_catalog(worker: tasker.Worker) -> tasker.Worker:
    """Register every catalog handler (``diamond_workflow_py.square`` and ``combined_py.choose_path`` are registered
    by their decorators)."""
    for name, target in CATALOG.items():
        worker.register(name, target)
    return worker
