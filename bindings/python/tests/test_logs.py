"""What a Python worker tells its operator: its start (queues served), each step failure (task, step, attempt,
error, what follows) and its stop, through ``logging`` (logger ``tasker``), on stderr when the application
configured no logging, as JSON on request; and a SIGTERM stops it within its grace period even with a handler
stuck (the step is released first)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

import tasker
from conftest import ROOT, Api, step
from handlers import register_catalog


def wait_for(predicate: Any, seconds: float = 10.0) -> None:
    deadline = time.time() + seconds
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def test_a_step_failure_is_a_warning_on_the_tasker_logger(server: Api, database: str,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tasker")
    w = tasker.Worker(database_url=database, template_path=str(ROOT / "config" / "templates" / "python"),
                      concurrency=2)
    register_catalog(w)
    with w:
        task = server.wait(server.create("retry_workflow_py", "retry_mechanics", {"fail_count": 1}))
        assert task["state"] == "complete", task

        def failures() -> List[Dict[str, Any]]:
            return [getattr(r, "tasker") for r in caplog.records
                    if r.name == "tasker" and r.levelno == logging.WARNING and r.getMessage().startswith("step failed")
                    and getattr(r, "tasker", {}).get("task_uuid") == task["task_uuid"]]

        wait_for(lambda: len(failures()) == 1)
        fields = failures()[0]
        assert fields["step"] == step(task, "flaky_step")["name"] and fields["attempt"] == 1, fields
        assert "flaky failure 1 of 1" in fields["error"], fields
        assert fields["next"] == "retry 2 of 5 in 0.050-0.100 s", fields
        assert any(r.name == "tasker" and "serving queue" in r.getMessage() and "retry_workflow_py" in r.getMessage()
                   for r in caplog.records), "the start names the queues served"
    wait_for(lambda: any("worker stopped" in r.getMessage() for r in caplog.records))


WORKER = textwrap.dedent("""
    import sys, time, tasker
    w = tasker.Worker(template_path=sys.argv[1], concurrency=1)
    w.register("stuck_py.hang", lambda ctx: time.sleep(3600))
    w.run()
""")

TEMPLATE = {"namespace": "stuck_py", "name": "hang", "version": "1.0.0",
            "steps": [{"name": "hang", "handler": "stuck_py.hang", "timeout_seconds": 3600}]}


def test_sigterm_stops_a_worker_with_a_stuck_handler_and_logs_on_stderr(server: Api, database: str,
                                                                        tmp_path: Path) -> None:
    (tmp_path / "hang.yaml").write_text(json.dumps(TEMPLATE))
    status, body = server.request("POST", "/v1/templates", TEMPLATE)
    assert status in (200, 201), body
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "DATABASE_URL": database, "TASKER_ENV": "test", "TASKER_LOG_FORMAT": "json",
           "TASKER__WORKER__SHUTDOWN_GRACE_MS": "500", "PYTHONPATH": str(ROOT / "bindings" / "python" / "python")}
    stderr = tmp_path / "stderr.log"
    with open(stderr, "w") as err:
        proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env, stderr=err, cwd=ROOT)
    try:
        task_uuid = server.create("stuck_py", "hang", {})
        wait_for(lambda: step(server.request("GET", f"/v1/tasks/{task_uuid}")[1], "hang")["state"] == "in_progress")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        assert time.monotonic() - started < 5, "the grace period is 0.5 s; a stuck handler must not hold the exit"
    finally:
        if proc.poll() is None:
            proc.kill()
    hang = step(server.request("GET", f"/v1/tasks/{task_uuid}")[1], "hang")
    assert hang["state"] == "enqueued", f"the stuck step was released to other workers: {hang}"
    # No logging configured in that process: its lines went to stderr, one JSON object each.
    lines = [json.loads(line) for line in stderr.read_text().splitlines() if line.startswith("{")]
    messages = [line["message"] for line in lines]
    assert any(m.startswith("serving queue") for m in messages), messages
    assert "worker stopped" in messages, messages
    assert any(line["level"] == "WARNING" and "still running after stop" in line["message"] for line in lines), lines
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
