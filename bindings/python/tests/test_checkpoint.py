"""Checkpoints from Python handlers, sync and async: the first attempt saves progress every 25 items and fails at
item 50; the retry resumes from 50. The last checkpoint is served on the step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import pytest

import tasker
from conftest import Api, step

TEMPLATES = [
    {"namespace": "ckpt_py", "name": name, "version": "1.0.0",
     "steps": [{"name": "work", "handler": f"ckpt_py.{name}", "retry": {"max_attempts": 2, "base_ms": 10, "max_ms": 10}}]}
    for name in ("sync", "async")
]


def process(ctx: tasker.StepContext) -> Dict[str, Any]:
    resumed_from = int((ctx.checkpoint or {}).get("done", 0))
    for item in range(resumed_from + 1, 101):
        if item % 25 == 0:
            ctx.save_checkpoint({"done": item})
        if item == 50 and ctx.attempt == 1:
            raise tasker.RetryableError("failed at item 50")
    return {"resumed_from": resumed_from, "processed": 100}


async def process_async(ctx: tasker.StepContext) -> Dict[str, Any]:
    return process(ctx)


@pytest.mark.parametrize("name", ["sync", "async"])
def test_a_retry_resumes_from_the_checkpoint(server: Api, database: str, tmp_path: Path, name: str) -> None:
    for template in TEMPLATES:
        (tmp_path / f"{template['name']}.yaml").write_text(json.dumps(template))
        status, body = server.request("POST", "/v1/templates", template)
        assert status in (200, 201), body
    w = tasker.Worker(database_url=database, template_path=str(tmp_path), concurrency=2)
    w.register("ckpt_py.sync", process)
    w.register("ckpt_py.async", process_async)
    with w:
        task = server.wait(server.create("ckpt_py", name, {}), 30)
    assert task["state"] == "complete", task
    work = step(task, "work")
    assert (work["attempts"], work["result"]) == (2, {"resumed_from": 50, "processed": 100})
    assert work["checkpoint"] == {"done": 100}


def test_a_context_without_a_worker_cannot_save() -> None:
    ctx = tasker.StepContext(task_uuid="t", step_uuid="s", step_name="s", handler="h", attempt=1, max_attempts=1)
    with pytest.raises(tasker.CheckpointError):
        ctx.save_checkpoint({"done": 1})
    assert isinstance(tasker.CheckpointError("x"), tasker.PermanentError)
