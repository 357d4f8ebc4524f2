"""Parity: the same workflows through Rust, Python and (when its extension is built) Ruby handlers give the
same result at every step. Rust and Ruby run as their own worker processes; Python in this process."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List

import pytest

import tasker
from conftest import ROOT, RUBY_EXT, Api, start_reference_workers, stop_processes
from handlers import register_catalog

# Identifiers derived from the task uuid differ between runs by design; everything else must match.
PER_TASK_FIELDS = {"reservation_id", "payment_id", "tracking_number", "customer_id"}

CASES = [
    ("linear_workflow", "mathematical_sequence", {"even_number": 6}),
    ("diamond_workflow", "diamond_pattern", {"even_number": 4}),
    ("tree_workflow", "hierarchical_tree", {"even_number": 2}),
    ("mixed_dag_workflow", "complex_dag", {"even_number": 2}),
    ("order_fulfillment", "business_workflow", {
        "customer": {"id": 7},
        "items": [{"sku": "A", "quantity": 3, "price": 0.1}, {"sku": "B", "quantity": 1, "price": 19.99}],
    }),
    ("retry_workflow", "retry_mechanics", {"fail_count": 1}),
    ("conditional_approval", "approval_routing", {"amount": 7500, "requester": "ann"}),
    ("batch_processing", "csv_inventory", {"rows": 10, "batch_size": 3}),
    ("batch_processing", "checkpoint_resume", {"items": 100, "fail_at": 50, "every": 25}),
    ("combined", "diamond_decision_batch", {"numbers": [1, 2, 3, 4, 6]}),
]


def comparable(result: Any) -> Any:
    if isinstance(result, dict):
        return {k: comparable(v) for k, v in result.items() if k not in PER_TASK_FIELDS}
    return result


@pytest.fixture(scope="module")
def languages(server: Api, database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[List[str]]:
    procs = start_reference_workers(database, tmp_path_factory.mktemp("parity"))
    langs = ["", "_py"] + (["_rb"] if RUBY_EXT.exists() else [])
    w = tasker.Worker(database_url=database, template_path=str(ROOT / "config" / "templates" / "python"),
                      concurrency=4)
    register_catalog(w)
    w.start()
    try:
        yield langs
    finally:
        w.stop()
        stop_processes(procs)


@pytest.mark.parametrize("namespace,name,context", CASES)
def test_every_step_matches_across_languages(languages: List[str], server: Api, namespace: str, name: str,
                                             context: Dict[str, Any]) -> None:
    runs = {}
    for suffix in languages:
        task = server.wait(server.create(namespace + suffix, name, context), 60)
        assert task["state"] == "complete", (suffix, task)
        runs[suffix or "rust"] = {s["name"]: (s["state"], s["attempts"], comparable(s["result"])) for s in task["steps"]}
    reference = runs.pop("rust")
    for language, steps in runs.items():
        assert steps == reference, f"{namespace}/{name}: {language} differs from rust"
