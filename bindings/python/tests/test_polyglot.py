"""One task whose steps run in three languages: Python (queue ``polyglot_py``), then Ruby (``polyglot_rb``), then
Rust (the namespace's queue). Each worker serves the queue whose handlers it has, and only that one."""

from __future__ import annotations

from typing import Iterator

import pytest

import tasker
from conftest import ROOT, RUBY_EXT, Api, start_reference_workers, step, stop_processes
from handlers import register_catalog


@pytest.fixture(scope="module")
def three_workers(server: Api, database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tasker.Worker]:
    if not RUBY_EXT.exists():
        pytest.skip("the Ruby extension is not built (bash bindings/ruby/build.sh)")
    procs = start_reference_workers(database, tmp_path_factory.mktemp("polyglot"))
    w = tasker.Worker(database_url=database, template_path=str(ROOT / "config" / "templates"), concurrency=2)
    register_catalog(w)
    w.start()
    try:
        yield w
    finally:
        w.stop()
        stop_processes(procs)


def test_one_task_runs_in_python_then_ruby_then_rust(three_workers: tasker.Worker, server: Api) -> None:
    assert "worker_polyglot_py_queue" in three_workers.queues
    assert "worker_polyglot_rb_queue" not in three_workers.queues and "worker_polyglot_queue" not in three_workers.queues
    task = server.wait(server.create("polyglot", "priced_order", {"unit_cents": 1999, "quantity": 3}), 60)
    assert task["state"] == "complete", task
    assert [(s["name"], s["queue"]) for s in task["steps"]] == [
        ("subtotal", "polyglot_py"), ("tax", "polyglot_rb"), ("receipt", "polyglot")]
    assert step(task, "subtotal")["result"] == {"subtotal_cents": 5997, "languages": ["python"]}
    # 8% of 59.97 is 4.7976, rounded half up to 4.80.
    assert step(task, "tax")["result"] == {"subtotal_cents": 5997, "tax_cents": 480, "languages": ["python", "ruby"]}
    assert step(task, "receipt")["result"] == {"total_cents": 6477, "languages": ["python", "ruby", "rust"]}


def test_each_worker_lists_its_language_and_queues(three_workers: tasker.Worker, server: Api) -> None:
    status, body = server.request("GET", "/v1/workers")
    assert status == 200, body
    by_language: dict[str, set[str]] = {}
    for w in body["workers"]:
        by_language.setdefault(w["language"], set()).update(w["queues"])
    assert "polyglot_py" in by_language.get("python", set()), body
    assert "polyglot_rb" in by_language.get("ruby", set()), body
    assert "polyglot" in by_language.get("rust", set()), body
    assert "polyglot_py" not in by_language.get("rust", set()) | by_language.get("ruby", set())
