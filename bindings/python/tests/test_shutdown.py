"""Shutdown of a Python worker with a step in flight. In a module of its own: no other Python worker may serve
`linear_workflow_py` meanwhile (module-scoped workers of the other modules are stopped by then)."""

from __future__ import annotations

import threading
import time
from typing import Dict

import tasker
from conftest import ROOT, Api, step


def test_shutdown_finishes_in_flight_steps(server: Api, database: str) -> None:
    """A separate worker: stop() while a slow handler runs lets it finish and the task complete."""
    started = threading.Event()

    def slow(ctx: tasker.StepContext) -> Dict[str, str]:
        started.set()
        time.sleep(0.5)
        n = int(ctx.task_context["even_number"]) if not ctx.dependency_results else 1
        return {"value": str(n * n)}

    w = tasker.Worker(database_url=database, template_path=str(ROOT / "config" / "templates" / "python"),
                      namespaces=["linear_workflow_py"], concurrency=1)
    w.register("linear_workflow_py.square", slow)
    w.start()
    try:
        task_uuid = server.create("linear_workflow_py", "mathematical_sequence", {"even_number": 2})
        assert started.wait(10)
        t0 = time.time()
    finally:
        w.stop()
    assert time.time() - t0 < 5
    _, task = server.request("GET", f"/v1/tasks/{task_uuid}")
    assert step(task, "linear_step_1")["state"] in ("enqueued_for_orchestration", "complete"), task
