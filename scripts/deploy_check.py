"""The checks of scripts/deploy_check.sh that need a parser: the compose file, the Dockerfiles' runtime settings, the
rendered Kubernetes manifests, and that every probe calls a route the binary serves on the port it listens on.

Run it through scripts/deploy_check.sh, which installs what it needs (PyYAML, kubectl for `kubectl kustomize`,
kubernetes-validate) into .venv. Each check prints one line; the last line counts them. Exit status 1 if one failed.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, List

from deploy_checks.common import ROOT, check, failed, passed, pending, section
from deploy_checks.containers import check_compose, check_dockerfiles
from deploy_checks.kubernetes import check_overlay, check_templates_configmap, render, validate
from deploy_checks.keda import check_keda_queries


def main() -> int:
    check_dockerfiles()
    check_compose()
    check_templates_configmap()
    production: List[Dict[str, Any]] = []
    overlays = sorted(p for p in (ROOT / "deploy/k8s/overlays").iterdir() if (p / "kustomization.yaml").is_file())
    for overlay in overlays:
        section(f"deploy/k8s/overlays/{overlay.name}: render, validate, probes and ports")
        docs = render(overlay)
        if docs is None:
            continue
        validate(overlay.name, docs)
        check_overlay(overlay.name, docs)
        if any(d["kind"] == "ScaledObject" for d in docs):
            production = docs
        section(f"deploy/k8s/overlays/{overlay.name} + components/migrate-at-start (what runs with today's binaries)")
        docs = render(overlay, (ROOT / "deploy/k8s/components/migrate-at-start",))
        if docs is not None:
            validate(f"{overlay.name}+migrate-at-start", docs)
            check_overlay(f"{overlay.name}+migrate-at-start", docs, migration_job=False)
    check(bool(production), "an overlay scales the workers with KEDA")
    if production:
        check_keda_queries(production)
    print()
    for missing, places in pending.items():
        print(f"PENDING  the manifests expect {missing}; used in {len(places)} places: {', '.join(places)}")
    print(f"deploy_check: {len(passed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
