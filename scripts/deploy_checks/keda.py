"""The KEDA scalers' queries, run against a scratch database."""

from __future__ import annotations

import os
import subprocess
import urllib.parse
from typing import Any, Dict, List

from deploy_checks.common import check, section


# A miniature pgmq (the two columns the queries read) and the counts each ScaledObject must see: visible messages
# (vt <= now) of its own queues only.
KEDA_FIXTURE = """
CREATE SCHEMA pgmq;
CREATE TABLE pgmq.meta (queue_name varchar PRIMARY KEY);
INSERT INTO pgmq.meta VALUES ('orchestration_step_results'), ('worker_linear_workflow_queue'),
  ('worker_polyglot_queue'), ('worker_linear_workflow_py_queue'), ('worker_polyglot_py_queue'),
  ('worker_polyglot_rb_queue');
CREATE TABLE pgmq.q_orchestration_step_results (vt timestamptz);
CREATE TABLE pgmq.q_worker_linear_workflow_queue (vt timestamptz);
CREATE TABLE pgmq.q_worker_polyglot_queue (vt timestamptz);
CREATE TABLE pgmq.q_worker_linear_workflow_py_queue (vt timestamptz);
CREATE TABLE pgmq.q_worker_polyglot_py_queue (vt timestamptz);
CREATE TABLE pgmq.q_worker_polyglot_rb_queue (vt timestamptz);
INSERT INTO pgmq.q_orchestration_step_results VALUES (now() - interval '1 s');
INSERT INTO pgmq.q_worker_linear_workflow_queue VALUES (now() - interval '1 s'), (now() - interval '1 s'),
  (now() + interval '1 h');
INSERT INTO pgmq.q_worker_polyglot_queue VALUES (now() - interval '1 s');
INSERT INTO pgmq.q_worker_linear_workflow_py_queue VALUES (now() - interval '1 s'), (now() + interval '1 h');
INSERT INTO pgmq.q_worker_polyglot_py_queue VALUES (now() - interval '1 s'), (now() - interval '1 s');
INSERT INTO pgmq.q_worker_polyglot_rb_queue VALUES (now() - interval '1 s');
"""
KEDA_EXPECTED = {"tasker-worker-rust": 3, "tasker-worker-python": 3}


def check_keda_queries(docs: List[Dict[str, Any]]) -> None:
    section("KEDA queries against a scratch database")
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    psql = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]

    def run(target: str, sql: str) -> subprocess.CompletedProcess:
        return subprocess.run(psql + [target], input=sql, capture_output=True, text=True, timeout=30)

    try:
        if run(url, "SELECT 1").returncode != 0:
            raise FileNotFoundError
    except (FileNotFoundError, subprocess.TimeoutExpired):
        print(f"skip  no PostgreSQL reachable with psql at $DATABASE_URL: the KEDA queries were not run")
        return
    scratch = f"tasker_deploy_check_{os.getpid()}"
    created = run(url, f"CREATE DATABASE {scratch}")
    if created.returncode != 0:
        print(f"skip  could not create a scratch database ({created.stderr.strip()[:200]}): KEDA queries not run")
        return
    scratch_url = urllib.parse.urlsplit(url)._replace(path=f"/{scratch}").geturl()
    try:
        check(run(scratch_url, KEDA_FIXTURE).returncode == 0, "loaded a miniature pgmq")
        for so in (d for d in docs if d["kind"] == "ScaledObject"):
            name = so["metadata"]["name"]
            for trigger in so["spec"]["triggers"]:
                result = run(scratch_url, trigger["metadata"]["query"] + ";")
                got = result.stdout.strip()
                check(result.returncode == 0 and got == str(KEDA_EXPECTED.get(name)),
                      f"ScaledObject/{name}: its query counts the visible messages of its queues",
                      f"{got or result.stderr.strip()[:300]} (expected {KEDA_EXPECTED.get(name)})")
    finally:
        run(url, f"DROP DATABASE IF EXISTS {scratch}")
