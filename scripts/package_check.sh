#!/usr/bin/env bash
# The packages, built and installed from scratch, each running its example worker against a real server:
#   - tasker-py: `maturin build` gives an abi3 wheel, installed into a fresh virtualenv (no source tree on its path);
#   - tasker-rb: bindings/ruby/package.sh gives the source gem, installed into a temporary GEM_HOME (its native
#     extension compiled by cargo at install);
#   - the library crates: `cargo package` (metadata, licence, readme, versioned path dependencies).
# A linear task in each language's namespace must complete through the installed package.
# CI builds the packages with cargo's dev profile, which reuses the test build (TASKER_PACKAGE_PROFILE=release
# builds them as they ship; docs/deployment.md). The gem builds in the workspace's target/ so that its dependencies
# come from the test build. Called by scripts/test.sh; needs DATABASE_URL (admin).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
admin=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
profile=${TASKER_PACKAGE_PROFILE:-dev}
tmp=$(mktemp -d)
name="tasker_packages_$$"
url="${admin%/*}/${name}"
source scripts/lib/serve.sh
port=$(free_port)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
    psql "$admin" -qc "DROP DATABASE IF EXISTS ${name} WITH (FORCE)" || true
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "== cargo package (library crates)"
cargo package --quiet --no-verify --allow-dirty -p tasker-shared -p tasker-worker-foundation -p tasker-client \
    -p tasker-orchestration -p tasker-worker-rust
for crate in tasker-shared tasker-worker-foundation tasker-client tasker-orchestration tasker-worker-rust; do
    listing=$(tar -tzf "target/package/${crate}-0.1.0.crate")
    for file in Cargo.toml README.md src/lib.rs; do
        grep -qx "${crate}-0.1.0/${file}" <<<"$listing" || { echo "${crate}: ${file} not packaged"; exit 1; }
    done
done
listing=$(tar -tzf target/package/tasker-shared-0.1.0.crate)
grep -q '^tasker-shared-0.1.0/migrations/.*\.sql$' <<<"$listing" || { echo "tasker-shared: its migrations are not packaged"; exit 1; }

psql "$admin" -qc "CREATE DATABASE ${name}"
DATABASE_URL="$url" TASKER_BIND="127.0.0.1:${port}" RUST_LOG=warn \
    start_ready "$port" "$tmp/server.log" target/debug/tasker-server

# Create a linear task in `namespace` and wait (30 s) for it to complete.
run_linear() {
    local namespace=$1 uuid state=""
    uuid=$(curl -sf -X POST "http://127.0.0.1:${port}/v1/tasks" -H 'content-type: application/json' \
        -d "{\"namespace\": \"${namespace}\", \"name\": \"mathematical_sequence\", \"context\": {\"even_number\": 2}}" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["task_uuid"])')
    for _ in $(seq 1 300); do
        state=$(curl -sf "http://127.0.0.1:${port}/v1/tasks/${uuid}" |
            python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])')
        [ "$state" = complete ] && { echo "   ${namespace}: task ${uuid} complete"; return 0; }
        sleep 0.1
    done
    echo "${namespace}: task ${uuid} is ${state}, not complete"
    return 1
}

echo "== tasker-py: wheel into a fresh virtualenv"
release=(); [ "$profile" = release ] && release=(--release)
.venv/bin/maturin build --quiet -m bindings/python/Cargo.toml --out "$tmp/wheels" "${release[@]}" 2>&1 | tail -2
python3 -m venv "$tmp/py"
"$tmp/py/bin/pip" install --quiet --disable-pip-version-check "$tmp"/wheels/tasker_py-*-abi3-*.whl
(cd "$tmp" && "$tmp/py/bin/python" -c 'import tasker, sys; assert "site-packages" in tasker.__file__, tasker.__file__')
(cd "$tmp" && DATABASE_URL="$url" TASKER_CONFIG_DIR="$root/config/tasker" TASKER_TEMPLATE_PATH="$root/config/templates" \
    exec "$tmp/py/bin/python" "$root/bindings/python/examples/worker.py" >"$tmp/py-worker.log" 2>&1) &
pids+=($!)
run_linear linear_workflow_py || { tail -20 "$tmp/py-worker.log"; exit 1; }

echo "== tasker-rb: source gem into a temporary GEM_HOME (extension compiled at install)"
bash bindings/ruby/package.sh "$tmp/gem" >/dev/null
TASKER_RB_CARGO_PROFILE="$profile" CARGO_TARGET_DIR="$root/target" GEM_HOME="$tmp/gems" \
    gem install --local --no-document --quiet "$tmp"/gem/tasker-rb-*.gem
(cd "$tmp" && GEM_HOME="$tmp/gems" GEM_PATH="$tmp/gems" ruby -e 'require "tasker"; abort $LOADED_FEATURES.grep(/tasker_rb/).inspect unless $LOADED_FEATURES.grep(/tasker_rb/).all? { |f| f.start_with?(ENV["GEM_HOME"]) }')
(cd "$tmp" && GEM_HOME="$tmp/gems" GEM_PATH="$tmp/gems" DATABASE_URL="$url" TASKER_CONFIG_DIR="$root/config/tasker" \
    TASKER_TEMPLATE_PATH="$root/config/templates" exec ruby "$root/bindings/ruby/examples/worker.rb" >"$tmp/rb-worker.log" 2>&1) &
pids+=($!)
run_linear linear_workflow_rb || { tail -20 "$tmp/rb-worker.log"; exit 1; }
echo "== packages: crates packaged, wheel and gem installed and ran their example workers"
