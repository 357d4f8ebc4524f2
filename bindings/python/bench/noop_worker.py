"""A Python worker with one no-op handler (`bench_py.noop`, the twin of the Rust `bench.noop`), used by
`tasker-bench --soak M --soak-worker python`. Runs until SIGTERM.

From the repository root, after building the extension into `.venv` (`bash scripts/test.sh` does it):

    DATABASE_URL=... .venv/bin/python bindings/python/bench/noop_worker.py
"""

from __future__ import annotations

import os

import tasker
import tasker.worker


def main() -> None:
    worker = tasker.Worker(
        template_path=os.environ.get("TASKER_TEMPLATE_PATH", "config/templates/python"),
        namespaces=["bench_py"],
        # The library's default unless TASKER_CONCURRENCY says otherwise: the bench measures the defaults.
        concurrency=int(os.environ.get("TASKER_CONCURRENCY", str(tasker.worker.DEFAULT_CONCURRENCY))),
        bind=os.environ.get("TASKER_WORKER_BIND"),
    )
    worker.register("bench_py.noop", lambda ctx: {"ok": True})
    worker.run()


if __name__ == "__main__":
    main()
