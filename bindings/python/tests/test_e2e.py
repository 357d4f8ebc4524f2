"""End to end: a real tasker-server process, this process as a Python worker, every `_py` example."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest

import tasker
from conftest import Api, ROOT, step

ORDER = {
    "customer": {"id": 1, "name": "Ada", "email": "ada@example.com"},
    "items": [{"sku": "WIDGET-001", "quantity": 2, "price": 29.99}, {"sku": "GADGET-002", "quantity": 1, "price": 149.99}],
    "payment": {"method": "credit_card", "token": "tok_test"},
    "shipping": {"method": "standard", "address": "1 Main St"},
}


def value(task: Dict[str, Any], name: str) -> int:
    return int(step(task, name)["result"]["value"])


def test_serves_only_python_namespaces(worker: tasker.Worker) -> None:
    assert "worker_linear_workflow_py_queue" in worker.queues
    assert all(q.endswith("_py_queue") for q in worker.queues), worker.queues


@pytest.mark.parametrize(
    "namespace,name,ctx,final,expected",
    [
        ("linear_workflow_py", "mathematical_sequence", {"even_number": 6}, "linear_step_4", 6**16),
        ("diamond_workflow_py", "diamond_pattern", {"even_number": 6}, "diamond_end", 6**16),
        ("tree_workflow_py", "hierarchical_tree", {"even_number": 2}, "tree_final_convergence", 2**64),
        ("mixed_dag_workflow_py", "complex_dag", {"even_number": 4}, "dag_finalize", 4**64),
    ],
)
def test_math_workflows_are_exact(worker: tasker.Worker, server: Api, namespace: str, name: str,
                                  ctx: Dict[str, Any], final: str, expected: int) -> None:
    task = server.wait(server.create(namespace, name, ctx))
    assert task["state"] == "complete", task
    assert value(task, final) == expected


def test_order_fulfillment(worker: tasker.Worker, server: Api) -> None:
    task = server.wait(server.create("order_fulfillment_py", "business_workflow", ORDER))
    assert task["state"] == "complete", task
    assert step(task, "validate_order")["result"]["order_total"] == "209.97"
    assert step(task, "process_payment")["result"]["amount_charged"] == "209.97"
    assert step(task, "ship_order")["result"]["shipping_status"] == "label_created"


def test_retries_then_succeeds(worker: tasker.Worker, server: Api) -> None:
    task = server.wait(server.create("retry_workflow_py", "retry_mechanics", {"fail_count": 2}))
    s = step(task, "flaky_step")
    assert (task["state"], s["attempts"], s["result"]) == ("complete", 3, {"attempts_before_success": 2})


def test_exhaustion_and_permanent_errors_carry_python_tracebacks(worker: tasker.Worker, server: Api) -> None:
    exhausted = server.wait(server.create("retry_workflow_py", "retry_exhaustion", {}))
    s = step(exhausted, "always_failing_step")
    assert (exhausted["state"], s["state"], s["attempts"]) == ("error", "error", 3)
    assert s["error"]["error_class"] == "tasker.errors.RetryableError"

    permanent = server.wait(server.create("error_workflow_py", "permanent_error", {}))
    s = step(permanent, "permanent_failure_step")
    assert (permanent["state"], s["attempts"]) == ("error", 1)
    assert s["error"]["retryable"] is False
    assert s["error"]["error_class"] == "tasker.errors.PermanentError"
    assert any("handlers.py" in line and "call" in line for line in s["error"]["backtrace"]), s["error"]


def test_bad_input_is_rejected_before_any_python_runs(server: Api) -> None:
    status, body = server.request("POST", "/v1/tasks", {"namespace": "linear_workflow_py",
                                                        "name": "mathematical_sequence", "context": {"even_number": 3}})
    assert status == 422 and body["error"]["field"] == "context.even_number"


def test_a_worker_that_cannot_start_raises_worker_error(database: str, tmp_path: Path) -> None:
    templates = str(ROOT / "config" / "templates")
    # (Handlers registered by decorator join every worker, so an empty template directory is what serves nothing.)
    lonely = tasker.Worker(database_url=database, template_path=str(tmp_path))
    lonely.register("nowhere.used", lambda ctx: {})
    with pytest.raises(tasker.WorkerError, match="no queue to serve") as caught:
        lonely.start()
    assert "nowhere.used" in str(caught.value) and isinstance(caught.value, tasker.TaskerError)
    # A queue given explicitly whose steps name a handler not registered here: named, with the handler.
    partial = tasker.Worker(database_url=database, template_path=templates, queues=["polyglot"])
    partial.register("polyglot.subtotal", lambda ctx: {})
    with pytest.raises(tasker.WorkerError, match="queue `polyglot` cannot be served") as caught:
        partial.start()
    assert "polyglot.receipt" in str(caught.value) and "steps[2].handler" in str(caught.value)


def test_a_handler_reads_any_upstream_step_and_a_step_that_is_not_upstream_fails_naming_those_that_are(
        server: Api, database: str, tmp_path: Path) -> None:
    (tmp_path / "upstream.yaml").write_text(
        "namespace: upstream_py\nname: chain\nversion: 1.0.0\nsteps:\n"
        "  - {name: first, handler: upstream_py.first}\n"
        "  - {name: second, handler: upstream_py.second, depends_on: [first]}\n"
        "  - {name: third, handler: upstream_py.third, depends_on: [second], retry: {max_attempts: 1}}\n")
    status, body = server.request("POST", "/v1/templates", {
        "namespace": "upstream_py", "name": "chain", "version": "1.0.0", "steps": [
            {"name": "first", "handler": "upstream_py.first"},
            {"name": "second", "handler": "upstream_py.second", "depends_on": ["first"]},
            {"name": "third", "handler": "upstream_py.third", "depends_on": ["second"], "retry": {"max_attempts": 1}}]})
    assert status in (200, 201), body
    w = tasker.Worker(database_url=database, template_path=str(tmp_path), queues=["upstream_py"])
    w.register("upstream_py.first", lambda ctx: None)
    w.register("upstream_py.second", lambda ctx: {"n": 2})

    def third(ctx: tasker.StepContext) -> Dict[str, Any]:
        # A grandparent whose result is null reads as None, and is told apart from a step that is not upstream.
        assert ctx.dependency_result("first") is None
        assert list(ctx.dependency_results) == ["second"]
        return {"second": ctx.dependency_result("second"), "typo": ctx.dependency_result("frist")}

    w.register("upstream_py.third", third)
    w.start()
    try:
        task = server.wait(server.create("upstream_py", "chain", {}))
    finally:
        w.stop()
    assert task["state"] == "error", task
    error = step(task, "third")["error"]
    assert error["error_class"].endswith("UnknownDependencyError"), error
    assert "step `frist` is not upstream of `third`; the steps upstream are: first, second" in error["message"], error
