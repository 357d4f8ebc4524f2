"""An operator cancels a task while its Python handler runs: the handler sees ``ctx.cancelled``."""

from __future__ import annotations

import threading
import time
from typing import Any, Dict

import tasker
from conftest import Api, ROOT, step


def test_a_running_handler_sees_ctx_cancelled(server: Api, database: str) -> None:
    seen: Dict[str, Any] = {}
    started = threading.Event()

    def wait(ctx: tasker.StepContext) -> Dict[str, Any]:
        started.set()
        deadline = time.time() + 20
        while time.time() < deadline and not ctx.cancelled:
            time.sleep(0.05)
        seen["cancelled"] = ctx.cancelled
        return {"waited": True}

    w = tasker.Worker(database_url=database, template_path=str(ROOT / "config" / "templates"),
                      namespaces=["operator_tests"], concurrency=2)
    w.register("operator_tests.wait", wait)
    w.register("operator_tests.gate", lambda ctx: {"opened": True})
    w.register("operator_tests.pass", lambda ctx: {})
    with w:
        task_uuid = server.create("operator_tests", "waiting", {})
        assert started.wait(20), "the handler never started"
        status, body = server.request("POST", f"/v1/tasks/{task_uuid}/cancel", {"reason": "from python"})
        assert status == 200, body
        deadline = time.time() + 15
        while "cancelled" not in seen and time.time() < deadline:
            time.sleep(0.05)
        assert seen.get("cancelled") is True, seen
        status, task = server.request("GET", f"/v1/tasks/{task_uuid}")
        assert (task["state"], step(task, "waiting_step")["reason"]) == ("cancelled", "from python")
        assert step(task, "waiting_step")["result"] is None
