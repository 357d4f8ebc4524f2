#!/usr/bin/env bash
# Run every test:  bash scripts/test.sh
#
# Needs a Rust toolchain and a PostgreSQL server on 127.0.0.1:5432 (started here if it is a local
# Debian cluster and we are root). Database tests (#[sqlx::test]) create a throwaway database per test
# on the server named by DATABASE_URL.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$SECONDS
stage="setup"
stage_started=$SECONDS
# Enter stage $1, printing how long the previous one took (where CI time goes: keep the whole under 20 minutes).
begin() {
    echo "== stage '${stage}' took $((SECONDS - stage_started))s"
    stage=$1
    stage_started=$SECONDS
}
summary() {
    local rc=$? elapsed=$((SECONDS - started))
    if [ "$rc" -eq 0 ]; then
        echo "== test.sh: all tests passed (${elapsed}s)"
    else
        echo "== test.sh: FAILED in stage '${stage}' (exit ${rc}, ${elapsed}s)"
    fi
}
trap summary EXIT

# --- PostgreSQL --------------------------------------------------------------------------------
begin "postgres"
pg_up() { command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q; }
if ! pg_up; then
    if [ "$(id -u)" -eq 0 ] && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        version=$(ls /etc/postgresql | head -1)
        echo "== PostgreSQL not answering on 127.0.0.1:5432; starting cluster ${version}/main"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        for _ in $(seq 1 30); do
            pg_up && break
            sleep 1
        done
    fi
fi
if ! pg_up; then
    command -v pg_isready >/dev/null || echo "pg_isready not found: install the PostgreSQL client tools." >&2
    cat >&2 <<'MSG'
PostgreSQL is not answering on 127.0.0.1:5432. Start one, for example:
  pg_ctlcluster 15 main start                                          (Debian/Ubuntu package, as root)
  docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres
MSG
    exit 1
fi

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export TASKER_ENV=test
echo "== DATABASE_URL=${DATABASE_URL} TASKER_ENV=${TASKER_ENV}"

# --- Rust --------------------------------------------------------------------------------------
# Build everything once: building crates one by one with different feature sets rebuilds tokio/sqlx.
# Ruby (from Debian packages) must be there before the workspace build: the Ruby extension is a member.
begin "ruby toolchain"
bash bindings/ruby/install-deps.sh

begin "cargo build"
echo "== cargo build --workspace --all-targets"
cargo build --workspace --all-targets

begin "rust tests"
if cargo nextest --version >/dev/null 2>&1; then
    runner="cargo nextest"
    echo "== cargo nextest run --workspace --no-fail-fast"
    cargo nextest run --workspace --no-fail-fast
else
    runner="cargo test"
    echo "== cargo test --workspace (cargo-nextest not installed)"
    cargo test --workspace
fi
if [ "$runner" = "cargo nextest" ]; then
    echo "== cargo test --workspace --doc (nextest does not run doc tests)"
    cargo test --workspace --doc
fi
echo "== Rust tests passed (${runner})"

# A smoke run of the benchmark harness (debug build, tiny sizes): checks that it works, asserts no timing.
begin "bench smoke"
echo "== tasker-bench smoke run"
target/debug/tasker-bench --quick --tasks 40 --samples 5 --idle-seconds 1 --json > /dev/null
# ... and of its soak mode (separate server and worker processes, resident memory read from /proc).
target/debug/tasker-bench --soak 0.1 --soak-burst 20 --json > /dev/null
# ... at a steady rate, and with separate processes (a server and two Rust workers) over HTTP.
target/debug/tasker-bench --soak 0.1 --soak-rate 20 --json > /dev/null
target/debug/tasker-bench --processes 2 --quick --tasks 20 --samples 3 --json > /dev/null

# --- Ruby bindings -----------------------------------------------------------------------------
# The gem's native extension (bindings/ruby/ext/tasker_rb, a workspace member: the workspace build above
# needs Ruby, so install-deps.sh must also run before it), copied to bindings/ruby/lib/tasker_rb.so; then
# minitest: unit tests of the Ruby API and end-to-end tests (tasker-server + tasker-worker + a Ruby worker
# on a throwaway database).
begin "ruby bindings"
echo "== bindings/ruby: build.sh, then minitest"
bash bindings/ruby/build.sh
ruby -I bindings/ruby/lib bindings/ruby/test/run.rb
echo "== Ruby tests passed"

# --- Python bindings ---------------------------------------------------------------------------
# A virtualenv at .venv with maturin/pytest/mypy from PyPI; the extension is built into it (editable), so
# afterwards `.venv/bin/python -c 'import tasker'` works from the repository root.
begin "python bindings"
echo "== Python bindings: venv, maturin develop, mypy --strict, pytest"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check maturin pytest mypy schemathesis
(cd bindings/python && VIRTUAL_ENV="$PWD/../../.venv" PATH="$PWD/../../.venv/bin:$PATH" maturin develop -q)
.venv/bin/mypy --strict bindings/python/examples bindings/python/python/tasker
.venv/bin/python -m pytest bindings/python/tests -q

# --- Deployment files ----------------------------------------------------------------------------
# Dockerfiles (hadolint), the compose file, every rendered Kubernetes overlay (kubectl kustomize, then
# kubernetes-validate), probe paths and ports against the binaries' routes (docs/deployment.md).
begin "deployment"
echo "== deployment files: scripts/deploy_check.sh"
bash scripts/deploy_check.sh

# --- The API against its OpenAPI description ---------------------------------------------------
begin "api contract"
echo "== schemathesis against /openapi.json of a running tasker-server"
bash scripts/api_contract.sh

# --- Packages: the crates, the wheel and the gem, installed from scratch ---------------------------
begin "packages"
echo "== packages: scripts/package_check.sh"
bash scripts/package_check.sh

# --- The dashboard in a real browser ---------------------------------------------------------------
begin "dashboard"
echo "== the dashboard (/ui) in headless Chromium: scripts/ui_test.sh"
bash scripts/ui_test.sh

begin "done"
