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

source scripts/lib/serve.sh
name="tasker_ui_$$"
url="${admin%/*}/${name}"
port=$(free_port)
auth_port=$(free_port)
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
DATABASE_URL="$url" TASKER_BIND="127.0.0.1:${port}" RUST_LOG=warn \
    start_ready "$port" "$logs/server.log" target/debug/tasker-server
# A second server on the same database with authentication on (JWTs signed with this secret).
DATABASE_URL="$url" TASKER_BIND="127.0.0.1:${auth_port}" TASKER__AUTH__ENABLED=true \
    TASKER__AUTH__JWT_SECRET=ui-test-secret RUST_LOG=warn \
    start_ready "$auth_port" "$logs/auth-server.log" target/debug/tasker-server
DATABASE_URL="$url" TASKER_WORKER_BIND="127.0.0.1:${worker_port}" RUST_LOG=warn \
    start_ready "$worker_port" "$logs/worker.log" target/debug/tasker-worker
mkdir -p target/ui-screenshots
if ! (cd ui-tests && TASKER_URL="http://127.0.0.1:${port}" \
    TASKER_AUTH_URL="http://127.0.0.1:${auth_port}" TASKER_JWT_SECRET=ui-test-secret SCREENSHOTS="$PWD/../target/ui-screenshots" npm test); then
    echo "== server log"; tail -50 "$logs/server.log"
    echo "== worker log"; tail -50 "$logs/worker.log"
    exit 1
fi
