#!/usr/bin/env python3
"""Tasker demo: build the binaries, start a server and a worker, run every example workflow.

Run from anywhere:

    python3 scripts/demo.py

Needs a Rust toolchain, `psql`, and a PostgreSQL 13+ server. The database URL is $DATABASE_URL, or
postgres://postgres@127.0.0.1:5432/tasker_demo; the database is created if it does not exist.
Both processes are stopped with SIGTERM at the end (also on Ctrl-C). Exits 0 only if every example
ends as expected. Standard library only.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tasker_demo")
TERMINAL = ("complete", "error", "cancelled", "resolved_manually")
TIMEOUT_S = 60

ORDER = {
    "customer": {"id": 1, "name": "Ada", "email": "ada@example.com"},
    "items": [{"sku": "WIDGET-001", "quantity": 2, "price": 29.99},
              {"sku": "GADGET-002", "quantity": 1, "price": 149.99}],
    "payment": {"method": "credit_card", "token": "tok_test"},
    "shipping": {"method": "standard", "address": "1 Main St"},
}


def key_result(task, checks):
    """Checks are (step name, field, wanted); the field is read from the step's result, except `attempts`.
    Values compare as strings, so {"value": "2821109907456"} matches 6**16. Returns (summary, all matched)."""
    parts, ok = [], True
    for name, field, want in checks:
        s = next((s for s in task.get("steps") or [] if s.get("name") == name), None) or {}
        got = s.get("attempts") if field == "attempts" else (s.get("result") or {}).get(field)
        match = got is not None and str(got) == str(want)
        ok = ok and match
        parts.append(f"{name}.{field}={got}" + ("" if match else f" (want {want})"))
    return ", ".join(parts), ok


# (namespace, name, context, expected final state, key results)
EXAMPLES = [
    ("linear_workflow", "mathematical_sequence", {"even_number": 6}, "complete", [("linear_step_4", "value", 6**16)]),
    ("diamond_workflow", "diamond_pattern", {"even_number": 6}, "complete", [("diamond_end", "value", 6**16)]),
    ("tree_workflow", "hierarchical_tree", {"even_number": 2}, "complete",
     [("tree_final_convergence", "value", 2**64)]),
    ("mixed_dag_workflow", "complex_dag", {"even_number": 2}, "complete", [("dag_finalize", "value", 2**64)]),
    ("order_fulfillment", "business_workflow", ORDER, "complete",
     [("validate_order", "order_total", "209.97"), ("ship_order", "shipping_status", "label_created")]),
    ("retry_workflow", "retry_mechanics", {"fail_count": 2}, "complete", [("flaky_step", "attempts", 3)]),
    ("retry_workflow", "retry_exhaustion", {}, "error", [("always_failing_step", "attempts", 3)]),
    ("error_workflow", "permanent_error", {}, "error", [("permanent_failure_step", "attempts", 1)]),
    ("conditional_approval", "approval_routing", {"amount": 7500, "requester": "ann"}, "complete",
     [("finalize_approval", "approved_by", ["finance", "manager"])]),
    ("batch_processing", "csv_inventory", {"rows": 10, "batch_size": 3}, "complete",
     [("aggregate", "workers", 4), ("aggregate", "inventory_value", "93.94")]),
]


def http(method, url, body=None, timeout=10):
    """Returns (status, parsed JSON or raw text)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def psql(url, sql):
    return subprocess.run(["psql", url, "-Atqc", sql], capture_output=True, text=True)


def ensure_database():
    """Exits 1 with instructions if PostgreSQL is not reachable; creates the database if missing."""
    parts = urllib.parse.urlsplit(DATABASE_URL)
    dbname = parts.path.lstrip("/") or "postgres"
    admin_url = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    try:
        r = psql(admin_url, "select 1 from pg_database where datname = '%s'" % dbname.replace("'", "''"))
    except FileNotFoundError:
        r = subprocess.CompletedProcess([], 127, "", "psql not found on PATH")
    if r.returncode != 0:
        print(f"Cannot connect to PostgreSQL at {admin_url}:\n  {r.stderr.strip()}\n"
              "Start one, for example:\n"
              "  pg_ctlcluster 15 main start          (Debian/Ubuntu package, as root)\n"
              "  docker run -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres\n"
              "or set DATABASE_URL to a server you can reach.")
        sys.exit(1)
    if r.stdout.strip() != "1":
        print(f"Creating database {dbname}")
        r = psql(admin_url, 'create database "%s"' % dbname.replace('"', '""'))
        if r.returncode != 0:
            print(f"Cannot create database {dbname}: {r.stderr.strip()}")
            sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, lines=30):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def start(binary, env, log_path):
    log = open(log_path, "w")
    # Own session: Ctrl-C reaches only this script, which then stops the processes with SIGTERM.
    proc = subprocess.Popen([binary], cwd=ROOT, env={**os.environ, **env}, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_path = log_path
    return proc


def wait_ready(proc, port, label):
    deadline = time.time() + TIMEOUT_S
    while time.time() < deadline and proc.poll() is None:
        try:
            if http("GET", f"http://127.0.0.1:{port}/health/ready", timeout=2)[0] == 200:
                print(f"  {label} ready on 127.0.0.1:{port}")
                return
        except OSError:
            pass
        time.sleep(0.2)
    why = f"exited with {proc.returncode}" if proc.poll() is not None else f"not ready after {TIMEOUT_S}s"
    print(f"{label} {why}. Last lines of {proc.log_path}:\n{tail(proc.log_path)}")
    sys.exit(1)


def stop(procs):
    for label, p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for label, p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            print(f"  {label} did not exit 30s after SIGTERM; killing it")
            p.kill()
            p.wait()
        code = p.returncode
        print(f"  {label} exited with " + (f"code {code}" if code >= 0 else f"signal {-code}"))


def run_examples(api):
    """Submits every example at once, reports each as it finishes; returns one table row per example."""
    print(f"\nSubmitting {len(EXAMPLES)} tasks")
    rows, pending = {}, {}  # example index -> row; task_uuid -> (example index, submitted at)
    for i, (ns, name, ctx, expected, _) in enumerate(EXAMPLES):
        status, body = http("POST", f"{api}/v1/tasks", {"namespace": ns, "name": name, "context": ctx})
        if status == 201 and isinstance(body, dict) and body.get("task_uuid"):
            pending[body["task_uuid"]] = (i, time.time())
            print(f"  {ns}/{name} -> {body['task_uuid']} ({body.get('state')})")
        else:
            print(f"  {ns}/{name} -> HTTP {status}: {json.dumps(body)}")
            rows[i] = (f"{ns}/{name}", f"HTTP {status}", expected, "not created", False)

    print("\nProgress")
    deadline = time.time() + TIMEOUT_S
    while pending and time.time() < deadline:
        for task_uuid, (i, t0) in list(pending.items()):
            status, task = http("GET", f"{api}/v1/tasks/{task_uuid}")
            if status != 200 or not isinstance(task, dict) or task.get("state") not in TERMINAL:
                continue
            del pending[task_uuid]
            ns, name, _, expected, checks = EXAMPLES[i]
            print(f"  {ns}/{name}: {task['state']} after {(time.time() - t0) * 1000:.0f} ms")
            key, key_ok = key_result(task, checks)
            rows[i] = (f"{ns}/{name}", task["state"], expected, key, key_ok and task["state"] == expected)
        time.sleep(0.05)
    for task_uuid, (i, _) in pending.items():
        ns, name, _, expected, _ = EXAMPLES[i]
        print(f"  {ns}/{name}: not finished after {TIMEOUT_S}s (task {task_uuid})")
        rows[i] = (f"{ns}/{name}", "timeout", expected, "", False)
    return [rows[i] for i in sorted(rows)]


def bad_input(api):
    """An odd even_number fails the template's input schema: the API answers 422 and creates nothing."""
    print("\nBad input: linear_workflow/mathematical_sequence with {\"even_number\": 3}")
    status, body = http("POST", f"{api}/v1/tasks", {"namespace": "linear_workflow", "name": "mathematical_sequence",
                                                    "context": {"even_number": 3}})
    print(f"  HTTP {status}: {json.dumps(body)}")
    return ("linear_workflow/mathematical_sequence (even_number=3)", f"HTTP {status}", "HTTP 422",
            "rejected" if status == 422 else "accepted", status == 422)


def print_table(rows):
    header = ("example", "final state", "expected", "key result", "")
    cells = [header] + [(r[0], r[1], r[2], r[3], "OK" if r[4] else "MISMATCH") for r in rows]
    widths = [max(len(str(c[i])) for c in cells) for i in range(len(header))]
    print()
    for i, c in enumerate(cells):
        print("  ".join(str(v).ljust(w) for v, w in zip(c, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main():
    # SIGTERM to this script unwinds through the finally below, like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ensure_database()
    print("Building tasker-server and tasker-worker (cargo build --release) ...", flush=True)
    if subprocess.run(["cargo", "build", "--release", "--bin", "tasker-server", "--bin", "tasker-worker"],
                      cwd=ROOT).returncode != 0:
        print("Build failed.")
        return 1
    bin_dir = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")
    logs = tempfile.mkdtemp(prefix="tasker-demo-")
    print(f"Logs: {logs}/server.log, {logs}/worker.log")

    api_port, worker_port = free_port(), free_port()
    procs = []
    try:
        server = start(os.path.join(bin_dir, "tasker-server"),
                       {"DATABASE_URL": DATABASE_URL, "TASKER_BIND": f"127.0.0.1:{api_port}"}, f"{logs}/server.log")
        procs.append(("tasker-server", server))
        wait_ready(server, api_port, "tasker-server")  # the server migrates the database before it is ready
        worker = start(os.path.join(bin_dir, "tasker-worker"),
                       {"DATABASE_URL": DATABASE_URL, "TASKER_WORKER_BIND": f"127.0.0.1:{worker_port}"},
                       f"{logs}/worker.log")
        procs.append(("tasker-worker", worker))
        wait_ready(worker, worker_port, "tasker-worker")

        api = f"http://127.0.0.1:{api_port}"
        rows = run_examples(api) + [bad_input(api)]
        print_table(rows)
        bad = sum(1 for r in rows if not r[4])
        print(f"\n{len(rows) - bad}/{len(rows)} matched" + ("" if not bad else f"; {bad} MISMATCH (logs in {logs})"))
        return 0 if not bad else 1
    except KeyboardInterrupt:
        print("\nInterrupted.")
        return 130
    finally:
        print("\nStopping (SIGTERM)")
        stop(procs)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # before the processes were started
        sys.exit(130)
