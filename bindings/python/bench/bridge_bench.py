"""Measure the FFI bridge: no-op Python handlers against no-op Rust handlers, in the same run.

From the repository root, after `cargo build --release --bin tasker-server --bin tasker-worker` and a release
build of the extension (`cd bindings/python && VIRTUAL_ENV=../../.venv ../../.venv/bin/maturin develop --release`):

    .venv/bin/python bindings/python/bench/bridge_bench.py [--tasks 400] [--samples 100]

It creates and drops its own database, starts one tasker-server and one Rust tasker-worker (serving
`bench`), runs a Python worker process (serving `bench_py`), and prints steps/s and per-task latency
of 4-step linear no-op tasks for both, plus the ratios. Both workers run as separate processes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bindings" / "python" / "tests"))
sys.path.insert(0, str(ROOT / "bindings" / "python" / "examples"))

from conftest import ADMIN_URL, SERVER_URL_BASE, Api, _free_port, _psql  # noqa: E402


def start(binary: str, env: Dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    path = ROOT / "target" / "release" / binary
    if not path.exists():
        sys.exit(f"{path} missing: cargo build --release --bin tasker-server --bin tasker-worker")
    return subprocess.Popen([str(path)], cwd=ROOT, env={**os.environ, **env}, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT)


def wait_ready(api: Api) -> None:
    for _ in range(300):
        try:
            if api.request("GET", "/health/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("not ready")


def latency(api: Api, namespace: str, samples: int) -> List[float]:
    out = []
    for _ in range(samples):
        t0 = time.perf_counter()
        task_uuid = api.create(namespace, "linear_noop", {})
        while True:
            _, task = api.request("GET", f"/v1/tasks/{task_uuid}")
            if task["state"] in ("complete", "error"):
                break
            time.sleep(0.0005)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def throughput(api: Api, namespace: str, tasks: int) -> float:
    t0 = time.perf_counter()
    ids: List[str] = []
    lock = threading.Lock()

    def submit(n: int) -> None:
        for _ in range(n):
            task_uuid = api.create(namespace, "linear_noop", {})
            with lock:
                ids.append(task_uuid)

    threads = [threading.Thread(target=submit, args=(tasks // 8,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = len(ids)
    while True:
        _, page = api.request("GET", f"/v1/tasks?namespace={namespace}&state=complete&limit=1000")
        if len(page["tasks"]) >= total:
            break
        time.sleep(0.01)
    return total * 4 / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=400)
    ap.add_argument("--samples", type=int, default=100)
    args = ap.parse_args()

    name = f"tasker_bridge_{uuid.uuid4().hex[:8]}"
    _psql(f"CREATE DATABASE {name}")
    url = f"{SERVER_URL_BASE}/{name}"
    procs = []
    try:
        port = _free_port()
        procs.append(start("tasker-server", {"DATABASE_URL": url, "TASKER_BIND": f"127.0.0.1:{port}"},
                           Path("/tmp/bridge_bench_server.log")))
        api = Api(f"http://127.0.0.1:{port}")
        wait_ready(api)
        procs.append(start("tasker-worker", {"DATABASE_URL": url, "TASKER_WORKER_BIND": f"127.0.0.1:{_free_port()}",
                                             "TASKER_TEMPLATE_PATH": "config/templates/examples"},
                           Path("/tmp/bridge_bench_worker.log")))
        # The Python worker runs in its own process, like the Rust one, so that the client threads of this
        # script do not compete with it for the GIL.
        worker_code = (
            "import sys, tasker; "
            f"w = tasker.Worker(database_url={url!r}, template_path={str(ROOT / 'config/templates/python')!r}, "
            "namespaces=['bench_py'], concurrency=64); "
            "w.register('bench_py.noop', lambda ctx: {'ok': True}); w.run()"
        )
        procs.append(subprocess.Popen([sys.executable, "-c", worker_code], cwd=ROOT,
                                      stdout=open("/tmp/bridge_bench_pyworker.log", "w"), stderr=subprocess.STDOUT))
        time.sleep(1.0)
        latency(api, "bench", 10)
        latency(api, "bench_py", 10)  # warm-up
        results: Dict[str, Any] = {}
        for label, ns in (("rust", "bench"), ("python", "bench_py")):
            lat = latency(api, ns, args.samples)
            results[label] = {
                "p50_ms": statistics.median(lat),
                "p99_ms": sorted(lat)[int(0.99 * (len(lat) - 1))],
                "steps_per_sec": throughput(api, ns, args.tasks),
            }
        results["python_vs_rust"] = {
            "latency_p50_ratio": results["python"]["p50_ms"] / results["rust"]["p50_ms"],
            "throughput_ratio": results["python"]["steps_per_sec"] / results["rust"]["steps_per_sec"],
        }
        print(json.dumps(results, indent=2))
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=15)
        _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
