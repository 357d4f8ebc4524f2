"""Run the Python example catalog.

From the repository root, with a tasker-server running against the same database:

    DATABASE_URL=postgres://localhost:5432/tasker_demo .venv/bin/python bindings/python/examples/worker.py

then create tasks in the ``*_py`` namespaces, e.g.
``curl -s localhost:8080/v1/tasks -H 'content-type: application/json'
-d '{"namespace":"linear_workflow_py","name":"mathematical_sequence","context":{"even_number":6}}'``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tasker  # noqa: E402
from handlers import register_catalog  # noqa: E402


def main() -> None:
    worker = tasker.Worker(
        database_url=os.environ.get("DATABASE_URL"),
        template_path=os.environ.get("TASKER_TEMPLATE_PATH", "config/templates"),
        concurrency=int(os.environ.get("TASKER_PY_CONCURRENCY", "8")),
        # /health/* and /metrics on this address (containers, Kubernetes probes); unset: no HTTP.
        bind=os.environ.get("TASKER_WORKER_BIND"),
    )
    register_catalog(worker)
    print(f"tasker python worker serving {len(worker.handler_names)} handlers", flush=True)
    worker.run()


if __name__ == "__main__":
    main()
