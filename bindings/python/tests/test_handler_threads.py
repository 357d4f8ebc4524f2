"""A handler thread outlives whatever one handler does: every event is completed and the thread serves the next
one. Unit tests against a stand-in for the native worker (no database needed)."""

from __future__ import annotations

import asyncio
import json
import math
import sys
from typing import Any, Dict, List, Optional, Tuple

import pytest

import tasker
from tasker.handler import error_payload
from tasker.worker import Worker


class FakeNative:
    """Hands out the given events, then reports itself stopped; records every completion."""

    def __init__(self, handlers: List[str]) -> None:
        self.events = [
            json.dumps({"event_id": i, "handler": h, "task_uuid": "t", "step_uuid": f"s{i}", "step_name": "s",
                        "attempt": 1, "max_attempts": 3, "timeout_ms": 1000})
            for i, h in enumerate(handlers)
        ]
        self.completed: List[Tuple[int, Dict[str, Any]]] = []

    def next_event(self, _ms: int) -> Optional[str]:
        return self.events.pop(0) if self.events else None

    def is_running(self) -> bool:
        return bool(self.events)

    def is_cancelled(self, _event_id: int) -> bool:
        return False

    def complete(self, event_id: int, payload: str) -> bool:
        self.completed.append((event_id, json.loads(payload)))
        return True

    def stop(self) -> None:
        self.events.clear()


def serve(handlers: Dict[str, Any], order: List[str]) -> List[Tuple[int, Dict[str, Any]]]:
    worker = Worker(database_url="postgres://unused")
    for name, fn in handlers.items():
        worker.register(name, fn)
    native = FakeNative(order)
    worker._native = native
    worker._serve()
    return native.completed


def test_a_handler_that_exits_or_returns_nan_does_not_end_its_thread() -> None:
    def exits(_ctx: tasker.StepContext) -> Any:
        sys.exit(3)

    def nan(_ctx: tasker.StepContext) -> Any:
        return {"ratio": math.nan}

    def fine(_ctx: tasker.StepContext) -> Any:
        return {"ok": True}

    completed = serve({"exits": exits, "nan": nan, "fine": fine}, ["exits", "nan", "fine"])
    assert [event_id for event_id, _ in completed] == [0, 1, 2], "every event completed, in one thread"
    (_, exited), (_, not_json), (_, ok) = completed
    assert exited["success"] is False and exited["error"]["retryable"] is True
    assert exited["error"]["error_class"] == "Interrupt"
    assert not_json["success"] is False and not_json["error"]["retryable"] is False
    assert "not JSON" in not_json["error"]["message"]
    assert ok == {"success": True, "result": {"ok": True}}


def test_retry_after_must_be_a_finite_non_negative_number_and_fits_the_outcome() -> None:
    for bad in (-1, math.inf, math.nan, "2"):
        with pytest.raises(ValueError, match="retry_after"):
            tasker.RetryableError("later", retry_after=bad)  # type: ignore[arg-type]
    huge = error_payload(tasker.RetryableError("much later", retry_after=1e300))
    assert huge["retry_after_ms"] == 2**64 - 1
    assert error_payload(tasker.RetryableError("soon", retry_after=0.0015))["retry_after_ms"] == 2


def test_a_checkpoint_the_database_cannot_take_is_retryable() -> None:
    assert issubclass(tasker.CheckpointUnavailableError, tasker.RetryableError)
    assert error_payload(tasker.CheckpointUnavailableError("down"))["retryable"] is True
    assert error_payload(tasker.CheckpointError("lost"))["retryable"] is False


def test_stopping_cancels_what_is_left_on_the_event_loop_and_closes_it() -> None:
    worker = Worker(database_url="postgres://unused")
    worker._native = FakeNative([])
    loop = worker._event_loop()
    assert asyncio.run_coroutine_threadsafe(asyncio.sleep(0, result=5), loop).result(timeout=5) == 5
    stuck = asyncio.run_coroutine_threadsafe(asyncio.sleep(3600), loop)
    worker.stop()
    assert loop.is_closed()
    assert stuck.cancelled()
