"""Fixtures: a fresh database, a real tasker-server process on it, and helpers for the REST API."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bindings" / "python" / "examples"))

ADMIN_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
SERVER_URL_BASE = ADMIN_URL.rsplit("/", 1)[0]
TERMINAL = {"complete", "error", "cancelled", "resolved_manually"}


def _psql(sql: str) -> None:
    subprocess.run(["psql", ADMIN_URL, "-qc", sql], check=True, capture_output=True)


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


class Api:
    def __init__(self, base: str) -> None:
        self.base = base

    def request(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def create(self, namespace: str, name: str, context: Dict[str, Any]) -> str:
        status, body = self.request("POST", "/v1/tasks", {"namespace": namespace, "name": name, "context": context})
        assert status == 201, body
        return str(body["task_uuid"])

    def wait(self, task_uuid: str, seconds: float = 30) -> Dict[str, Any]:
        deadline = time.time() + seconds
        while time.time() < deadline:
            status, task = self.request("GET", f"/v1/tasks/{task_uuid}")
            assert status == 200, task
            if task["state"] in TERMINAL:
                return dict(task)
            time.sleep(0.02)
        raise AssertionError(f"task {task_uuid} not terminal after {seconds}s")


def step(task: Dict[str, Any], name: str) -> Dict[str, Any]:
    return next(s for s in task["steps"] if s["name"] == name)


@pytest.fixture(scope="module")
def worker(server: Api, database: str) -> Iterator["tasker.Worker"]:
    """A Python worker in this process serving the whole example catalog (config/templates)."""
    import tasker
    from handlers import register_catalog

    w = tasker.Worker(database_url=database, template_path=str(ROOT / "config" / "templates"), concurrency=4)
    register_catalog(w)
    w.start()
    yield w
    w.stop()


@pytest.fixture(scope="session")
def database() -> Iterator[str]:
    name = f"tasker_py_{uuid.uuid4().hex[:10]}"
    _psql(f"CREATE DATABASE {name}")
    try:
        yield f"{SERVER_URL_BASE}/{name}"
    finally:
        _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def server(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    binary = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "tasker-server"
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `cargo build --workspace --all-targets` first")
    port = _free_port()
    log = open(tmp_path_factory.mktemp("server") / "server.log", "w")
    env = {**os.environ, "DATABASE_URL": database, "TASKER_BIND": f"127.0.0.1:{port}", "TASKER_ENV": "test"}
    proc = subprocess.Popen([str(binary)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    api = Api(f"http://127.0.0.1:{port}")
    try:
        deadline = time.time() + 60
        while True:
            try:
                if api.request("GET", "/health/ready")[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError(f"tasker-server did not become ready (log: {log.name})")
            time.sleep(0.1)
        yield api
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


RUBY_EXT = ROOT / "bindings" / "ruby" / "lib" / "tasker_rb.so"


def start_reference_workers(database: str, logs: Path, ruby: bool = True) -> "List[subprocess.Popen[bytes]]":
    """The Rust ``tasker-worker`` and, when ``ruby`` and its extension is built, the Ruby example worker, as
    processes on ``database`` (their output in ``logs``). Stop them with ``stop_processes``."""
    env = {**os.environ, "DATABASE_URL": database, "TASKER_ENV": "test"}
    binary = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "tasker-worker"
    procs = [subprocess.Popen([str(binary)], cwd=ROOT, env={**env, "TASKER_WORKER_BIND": "127.0.0.1:0"},
                              stdout=open(logs / "rust.log", "w"), stderr=subprocess.STDOUT)]
    if ruby and RUBY_EXT.exists():
        procs.append(subprocess.Popen(["ruby", "-I", "bindings/ruby/lib", "bindings/ruby/examples/worker.rb"],
                                      cwd=ROOT, env=env, stdout=open(logs / "ruby.log", "w"),
                                      stderr=subprocess.STDOUT))
    return procs


def stop_processes(procs: "List[subprocess.Popen[bytes]]") -> None:
    for p in procs:
        p.terminate()
        p.wait(timeout=15)
