"""Parity: the same workflows through Rust, Python and (when its extension is built) Ruby handlers give the
same result at every step. Rust and Ruby run as their own worker processes; Python in this process."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

import tasker
from conftest import ROOT, Api
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
]

RUBY_EXT = ROOT / "bindings" / "ruby" / "lib" / "tasker_rb.so"


def comparable(result: Any) -> Any:
    if isinstance(result, dict):
        return {k: comparable(v) for k, v in result.items() if k not in PER_TASK_FIELDS}
    return result


@pytest.fixture(scope="module")
def languages(server: Api, database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[List[str]]:
    logs = tmp_path_factory.mktemp("parity")
    env = {**os.environ, "DATABASE_URL": database, "TASKER_ENV": "test"}
    binary = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "tasker-worker"
    procs = [subprocess.Popen([str(binary)], cwd=ROOT, env={**env, "TASKER_WORKER_BIND": "127.0.0.1:0"},
                              stdout=open(logs / "rust.log", "w"), stderr=subprocess.STDOUT)]
    langs = ["", "_py"]
    if RUBY_EXT.exists():
        procs.append(subprocess.Popen(["ruby", "-I", "bindings/ruby/lib", "bindings/ruby/examples/worker.rb"],
                                      cwd=ROOT, env=env, stdout=open(logs / "ruby.log", "w"),
                                      stderr=subprocess.STDOUT))
        langs.append("_rb")
    w = tasker.Worker(database_url=database, template_path=str(ROOT / "config" / "templates" / "python"),
                      concurrency=4)
    register_catalog(w)
    w.start()
    try:
        yield langs
    finally:
        w.stop()
        for p in procs:
            p.terminate()
            p.wait(timeout=15)


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
