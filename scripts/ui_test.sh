#!/usr/bin/env bash
# The dashboard (/ui) end to end in headless Chromium: a real tasker-server and a Rust tasker-worker (debug
# builds) on a throwaway database, driven by ui-tests/dashboard.test.mjs (playwright-core from npm, Debian's
# chromium: browser downloads by test tools are not used). Screenshots go to target/ui-screenshots/.
# Called by scripts/test.sh after the workspace build; needs DATABASE_URL (admin).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
admin=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}

if [ ! -x /usr/bin/chromium ]; then
    echo "== installing Debian's chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
(cd ui-tests && npm ci --no-audit --no-fund --loglevel=error)

name="tasker_ui_$$"
url="${admin%/*}/${name}"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
worker_port=$(free_port)
logs=$(mktemp -d)
psql "$admin" -qc "CREATE DATABASE ${name}"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
    psql "$admin" -qc "DROP DATABASE IF EXISTS ${name} WITH (FORCE)" || true
    rm -rf "$logs"
}
trap cleanup EXIT
DATABASE_URL="$url" TASKER_BIND="127.0.0.1:${port}" RUST_LOG=warn target/debug/tasker-server >"$logs/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:${port}/health/ready" >/dev/null 2>&1 && break
    kill -0 "${pids[0]}" 2>/dev/null || { cat "$logs/server.log"; exit 1; }
    sleep 0.1
done
# A second server on the same database with authentication on (JWTs signed with this secret).
auth_port=$(free_port)
DATABASE_URL="$url" TASKER_BIND="127.0.0.1:${auth_port}" TASKER__AUTH__ENABLED=true \
    TASKER__AUTH__JWT_SECRET=ui-test-secret RUST_LOG=warn target/debug/tasker-server >"$logs/auth-server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:${auth_port}/health/ready" >/dev/null 2>&1 && break
    kill -0 "${pids[1]}" 2>/dev/null || { cat "$logs/auth-server.log"; exit 1; }
    sleep 0.1
done
DATABASE_URL="$url" TASKER_WORKER_BIND="127.0.0.1:${worker_port}" RUST_LOG=warn target/debug/tasker-worker \
    >"$logs/worker.log" 2>&1 &
pids+=($!)
mkdir -p target/ui-screenshots
if ! (cd ui-tests && TASKER_URL="http://127.0.0.1:${port}" \
    TASKER_AUTH_URL="http://127.0.0.1:${auth_port}" TASKER_JWT_SECRET=ui-test-secret SCREENSHOTS="$PWD/../target/ui-screenshots" npm test); then
    echo "== server log"; tail -50 "$logs/server.log"
    echo "== worker log"; tail -50 "$logs/worker.log"
    exit 1
fi
