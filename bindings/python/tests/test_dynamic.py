"""Dynamic workflows through the Python worker (this process): a decision creates only its chosen branches, a
batchable step fans out into numbered batch worker instances, a convergence step sees exactly the steps that were
created, and a batch worker resumes from its checkpoint. The same expectations as the Rust catalog's
(tasker-tests/tests/dynamic_workflows.rs)."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

import tasker
from conftest import Api, step


def names(task: Dict[str, Any]) -> List[str]:
    return sorted(s["name"] for s in task["steps"])


def inventory_cents(start: int, end: int) -> int:
    """Rows [start, end) of csv_inventory: row i is worth (i % 7 + 1) * (100 + 37 i mod 900) cents."""
    return sum((i % 7 + 1) * (100 + (37 * i) % 900) for i in range(start, end))


def run(server: Api, namespace: str, name: str, context: Dict[str, Any]) -> Dict[str, Any]:
    task = server.wait(server.create(namespace, name, context), 60)
    assert task["state"] == "complete", task
    return task


def test_serves_the_dynamic_python_namespaces(worker: tasker.Worker) -> None:
    for queue in ("conditional_approval_py", "batch_processing_py", "combined_py"):
        assert f"worker_{queue}_queue" in worker.queues, worker.queues


@pytest.mark.parametrize(
    "amount,branches,approved_by",
    [
        (500, ["auto_approve"], ["auto"]),
        (2500, ["manager_approval"], ["manager"]),
        (7500, ["manager_approval", "finance_review"], ["finance", "manager"]),
    ],
)
def test_a_decision_creates_only_the_branches_it_chooses(worker: tasker.Worker, server: Api, amount: int,
                                                         branches: List[str], approved_by: List[str]) -> None:
    task = run(server, "conditional_approval_py", "approval_routing", {"amount": amount, "requester": "ann"})
    assert names(task) == sorted(["validate_request", "routing_decision", "finalize_approval", *branches])
    assert step(task, "validate_request")["result"] == {"amount": amount, "requester": "ann"}
    assert step(task, "routing_decision")["result"] == {"branches": branches, "amount": amount}
    assert step(task, "finalize_approval")["result"] == {"approved_by": approved_by}


def test_a_batchable_step_fans_out_and_the_convergence_adds_up_exactly_what_ran(worker: tasker.Worker,
                                                                                  server: Api) -> None:
    task = run(server, "batch_processing_py", "csv_inventory", {"rows": 10, "batch_size": 3})
    ranges = [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert names(task) == ["aggregate", "analyze"] + [f"process_batch_{i:03d}" for i in range(1, 5)]
    assert step(task, "analyze")["result"] == {"batches": [{"start": s, "end": e} for s, e in ranges]}
    for i, (start, end) in enumerate(ranges, 1):
        assert step(task, f"process_batch_{i:03d}")["result"] == {
            "processed": end - start, "value_cents": inventory_cents(start, end)}
    cents = inventory_cents(0, 10)
    assert step(task, "aggregate")["result"] == {
        "total_processed": 10, "workers": 4, "inventory_value": f"{cents // 100}.{cents % 100:02d}"}


def test_no_batches_no_workers_and_the_convergence_still_runs(worker: tasker.Worker, server: Api) -> None:
    task = run(server, "batch_processing_py", "csv_inventory", {"rows": 0, "batch_size": 3})
    assert names(task) == ["aggregate", "analyze"]
    assert step(task, "aggregate")["result"] == {"total_processed": 0, "workers": 0, "inventory_value": "0.00"}


def test_a_batch_worker_resumes_from_its_checkpoint_after_a_failure(worker: tasker.Worker, server: Api) -> None:
    task = run(server, "batch_processing_py", "checkpoint_resume", {"items": 100, "fail_at": 50, "every": 25})
    assert names(task) == ["plan", "process_items_001"]
    items = step(task, "process_items_001")
    assert (items["attempts"], items["result"]) == (2, {"resumed_from": 50, "processed": 100})
    assert items["checkpoint"] == {"next": 100}


@pytest.mark.parametrize(
    "numbers,path,instances,total",
    [
        ([1, 2, 3, 4, 6], "even", 2, {"path": "even", "batches": 2, "total": 12}),
        ([1, 3, 4], "odd", 1, {"path": "odd", "batches": 1, "total": 4}),
    ],
)
def test_a_diamond_joins_into_a_decision_that_picks_one_batch_path(worker: tasker.Worker, server: Api,
                                                                    numbers: List[int], path: str, instances: int,
                                                                    total: Dict[str, Any]) -> None:
    task = run(server, "combined_py", "diamond_decision_batch", {"numbers": numbers})
    other = "odd" if path == "even" else "even"
    assert names(task) == sorted(["start", "count_evens", "count_odds", "choose_path", f"{path}_path",
                                  f"{path}_total", *(f"{path}_batch_{i:03d}" for i in range(1, instances + 1))])
    assert not any(name.startswith(other) for name in names(task)), f"the {other} path was created"
    assert step(task, "choose_path")["result"] == {"branches": [f"{path}_path"]}
    assert step(task, f"{path}_total")["result"] == total
