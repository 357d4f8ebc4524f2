#!/usr/bin/env python3
"""How the dashboard's API reads scale: the time of each request the dashboard's pages make, with 1,000 tasks in
the database and then with 100,000 (a baseline and the load measured in the same run, reported as a ratio).

    cargo build --release --bins && python3 scripts/dashboard_load.py [--tasks 100000]

Starts target/release/tasker-server (no worker: the tasks stay running, their first steps queued, so the queue
counts of the overview read 100,000 messages too) on a throwaway database and creates the tasks through the API.
"""
import argparse
import concurrent.futures
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def request(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as res:
        return json.loads(res.read() or b"null")


def create(base, n, threads=16):
    body = {"namespace": "linear_workflow", "name": "mathematical_sequence", "context": {"even_number": 2}}
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: request(base, "POST", "/v1/tasks", body), range(n)))


def page_requests(base):
    first = request(base, "GET", "/v1/tasks?limit=50")["tasks"][0]["task_uuid"]
    return [
        ("overview", "/v1/overview"),
        ("tasks, first page", "/v1/tasks?limit=50"),
        ("tasks of a template", "/v1/tasks?limit=50&namespace=linear_workflow&name=mathematical_sequence"),
        ("tasks in error (none)", "/v1/tasks?limit=50&state=error"),
        ("one task", f"/v1/tasks/{first}"),
        ("dead letters", "/v1/dlq?limit=50"),
        ("templates", "/v1/templates"),
    ]


def timings(base, rounds=7):
    out = {}
    for label, path in page_requests(base):
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            request(base, "GET", path)
            samples.append((time.perf_counter() - start) * 1000)
        out[label] = statistics.median(samples)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    args = parser.parse_args()
    name = f"tasker_dashboard_load_{os.getpid()}"
    url = ADMIN.rsplit("/", 1)[0] + "/" + name
    subprocess.run(["psql", ADMIN, "-qc", f"CREATE DATABASE {name}"], check=True)
    port = free_port()
    env = dict(os.environ, DATABASE_URL=url, TASKER_BIND=f"127.0.0.1:{port}", RUST_LOG="warn",
               TASKER__SCHEDULING__ENABLED="false")
    server = subprocess.Popen([os.path.join(ROOT, "target/release/tasker-server")], env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                request(base, "GET", "/health/ready")
                break
            except Exception:
                time.sleep(0.1)
        create(base, args.baseline)
        small = timings(base)
        started = time.perf_counter()
        create(base, args.tasks - args.baseline)
        seeded = time.perf_counter() - started
        request(base, "GET", "/v1/overview")  # let statistics and caches settle once
        big = timings(base)
        print(f"created {args.tasks - args.baseline:,} more tasks in {seeded:.0f} s")
        print(f"{'request':<24} {args.baseline:>10,} tasks {args.tasks:>10,} tasks   ratio")
        for label in small:
            print(f"{label:<24} {small[label]:>13.1f} ms {big[label]:>13.1f} ms {big[label] / small[label]:>7.1f}x")
    finally:
        server.terminate()
        server.wait()
        subprocess.run(["psql", ADMIN, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)


if __name__ == "__main__":
    sys.exit(main())
