"""Unit tests of the Python handler API: no database needed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import tasker
from tasker.handler import as_callable, error_payload, invoke

EVENT = {
    "event_id": 7,
    "handler": "ns.h",
    "task_uuid": "0190a6e0-0000-7000-8000-000000000001",
    "step_uuid": "0190a6e0-0000-7000-8000-000000000002",
    "step_name": "s",
    "attempt": 2,
    "max_attempts": 2,
    "task_context": {"n": 3},
    "dependency_results": {"up": {"value": "9"}},
    "upstream_results": {"root": None},
    "step_config": {"k": 1},
    "timeout_ms": 1000,
}


def test_context_exposes_plain_dicts() -> None:
    ctx = tasker.StepContext.from_event(EVENT)
    assert ctx.task_context == {"n": 3}
    assert ctx.dependency_result("up") == {"value": "9"}
    with pytest.raises(tasker.UnknownDependencyError, match=r"step `missing` is not upstream of .*: root, up"):
        ctx.dependency_result("missing")
    assert ctx.dependency_result("root") is None, "a null result of a step further upstream"
    assert isinstance(tasker.UnknownDependencyError("x"), tasker.PermanentError)
    assert ctx.step_config == {"k": 1}
    assert ctx.attempt == 2 and ctx.is_last_attempt


def test_success_and_keyword_results() -> None:
    class H(tasker.StepHandler):
        def call(self, ctx: tasker.StepContext) -> Any:
            return self.success(value=str(ctx.task_context["n"] ** 2))

    outcome = invoke(as_callable(H), tasker.StepContext.from_event(EVENT), None)
    assert outcome == {"success": True, "result": {"value": "9"}}
    with pytest.raises(TypeError):
        H().success(1, value=2)


def test_exceptions_become_step_errors_with_traceback() -> None:
    def broken(ctx: tasker.StepContext) -> Any:
        return {}["missing"]

    outcome = invoke(broken, tasker.StepContext.from_event(EVENT), None)
    assert outcome["success"] is False
    err = outcome["error"]
    assert err["error_class"] == "KeyError" and err["retryable"] is True
    assert any("broken" in line for line in err["backtrace"])
    json.dumps(outcome)


def test_retryable_and_permanent_errors_say_what_happens_next() -> None:
    retry = error_payload(tasker.RetryableError("later", retry_after=2.5))
    assert retry["retryable"] is True and retry["retry_after_ms"] == 2500
    assert retry["error_class"] == "tasker.errors.RetryableError"
    perm = error_payload(tasker.PermanentError("never"))
    assert perm["retryable"] is False and "retry_after_ms" not in perm


def test_async_handlers_run_on_the_loop() -> None:
    async def h(ctx: tasker.StepContext) -> Any:
        await asyncio.sleep(0)
        return ctx.attempt

    loop = asyncio.new_event_loop()
    import threading

    t = threading.Thread(target=loop.run_forever, daemon=True)
    t.start()
    try:
        assert invoke(h, tasker.StepContext.from_event(EVENT), loop) == {"success": True, "result": 2}
    finally:
        loop.call_soon_threadsafe(loop.stop)
        t.join()


def test_registration_rejects_duplicates_and_non_handlers() -> None:
    w = tasker.Worker(database_url="postgres://unused/db")
    w.register("a.b", lambda ctx: 1)
    with pytest.raises(ValueError):
        w.register("a.b", lambda ctx: 2)
    with pytest.raises(TypeError):
        w.register("a.c", 42)
    with pytest.raises(ValueError):
        tasker.Worker(concurrency=0)


def test_decorator_registers_once() -> None:
    @tasker.handler("unit_test_ns.decorated")
    def decorated(ctx: tasker.StepContext) -> int:
        return 1

    assert tasker.registered_handlers()["unit_test_ns.decorated"] is decorated
    with pytest.raises(ValueError):
        tasker.handler("unit_test_ns.decorated")(decorated)


def test_decision_and_batches_are_the_step_result_exactly() -> None:
    assert tasker.decision(["a"], why="x") == {"branches": ["a"], "why": "x"}
    assert tasker.decision(()) == {"branches": []}
    with pytest.raises(TypeError):
        tasker.decision("a")
    assert tasker.batches([{"start": 0, "end": 3}]) == {"batches": [{"start": 0, "end": 3}]}

    class Decide(tasker.StepHandler):
        def call(self, ctx: tasker.StepContext) -> Any:
            return self.decision(("left", "right"), n=ctx.task_context["n"])

    class Fan(tasker.StepHandler):
        def call(self, ctx: tasker.StepContext) -> Any:
            return self.batches([{"i": i} for i in range(ctx.task_context["n"])])

    ctx = tasker.StepContext.from_event(EVENT)
    assert invoke(as_callable(Decide), ctx, None) == {
        "success": True, "result": {"branches": ["left", "right"], "n": 3}}
    assert invoke(as_callable(Fan), ctx, None) == {
        "success": True, "result": {"batches": [{"i": 0}, {"i": 1}, {"i": 2}]}}


def test_a_batch_worker_reads_its_item_and_a_convergence_its_batches_in_order() -> None:
    assert tasker.StepContext.from_event(EVENT).batch is None
    ctx = tasker.StepContext.from_event({**EVENT, "batch": {"start": 3, "end": 6, "index": 2}})
    assert ctx.batch == {"start": 3, "end": 6, "index": 2}

    results = {"w_002": "two", "w_010": "ten", "w_1000": "thousand", "w_001": "one",
               "w": "worker itself", "w_x": "not an index", "wide_003": "another step", "other": "static"}
    converge = tasker.StepContext.from_event({**EVENT, "dependency_results": results})
    assert converge.batch_results("w") == ["one", "two", "ten", "thousand"]
    assert converge.batch_results("absent") == []
