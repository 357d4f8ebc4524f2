"""Shared by the deploy checks: where the repository is, the pass/fail report, and what the binaries serve and read
(their routes and configuration keys, and the configuration layering)."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Any, Dict, List


ROOT = Path(__file__).resolve().parent.parent.parent
VENV_BIN = Path(sys.executable).parent
# Kubernetes versions the rendered manifests are validated against: the oldest we document and the newest that
# kubernetes-validate knows.
K8S_VERSIONS = ["1.30.0", "1.37.0"]
# What the manifests expect from the binaries that may not exist yet (docs/deployment.md#migrations): reported as
# PENDING, not as a failure, until the source has them.
PENDING_KEYS = {"database.run_migrations"}
# Seconds a worker needs after worker.shutdown_grace_ms: the release transaction, and for an embedded worker the
# host's own joins (Python's stop() waits up to ~6 s for its threads).
WORKER_STOP_MARGIN = 10
SERVER_STOP_MARGIN = 5

passed: List[str] = []
failed: List[str] = []
pending: Dict[str, List[str]] = {}  # what the manifests expect and the binaries lack yet -> where


def expect(missing: str, where: str) -> None:
    pending.setdefault(missing, []).append(where)


def check(ok: bool, what: str, detail: str = "") -> bool:
    line = f"{what}{': ' + detail if detail else ''}"
    (passed if ok else failed).append(line)
    print(("ok    " if ok else "FAIL  ") + line, flush=True)
    return ok


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def routes(path: str) -> List[str]:
    return re.findall(r'\.route\(\s*"([^"]+)"', (ROOT / path).read_text())


SERVER_ROUTES = routes("tasker-orchestration/src/api/mod.rs")
WORKER_ROUTES = routes("tasker-worker-foundation/src/http.rs")


def config_keys() -> Dict[str, set]:
    """Section → field names, from the configuration structs (tasker-shared/src/config): what a TASKER__SECTION__KEY
    variable may name. An unknown key stops the binaries at start-up (deny_unknown_fields)."""
    source = "\n".join(p.read_text() for p in sorted((ROOT / "tasker-shared/src/config").glob("*.rs")))
    structs = {
        name: set(re.findall(r"^\s*pub (\w+):", body, re.M))
        for name, body in re.findall(r"pub struct (\w+) \{(.*?)\n\}", source, re.S)
    }
    sections = dict(re.findall(r"^\s*pub (\w+): (\w+Config),", source, re.M))
    return {section: structs.get(struct, set()) for section, struct in sections.items()}


CONFIG_KEYS = config_keys()


def load_config(files: Dict[str, str], env: Dict[str, str]) -> Dict[str, Any]:
    """The binaries' layering (tasker-shared/src/config/mod.rs): base/*.toml, environments/$TASKER_ENV/*.toml,
    TASKER__SECTION__KEY, then the well-known variables. `files` maps paths under the config dir to contents."""
    config: Dict[str, Dict[str, Any]] = {}
    layers = ["base/", f"environments/{env.get('TASKER_ENV', 'development')}/"]
    for layer in layers:
        in_layer = [p for p in files if p.startswith(layer) and p.endswith(".toml") and "/" not in p[len(layer):]]
        for path in sorted(in_layer):
            for sect, values in tomllib.loads(files[path]).items():
                config.setdefault(sect, {}).update(values)
    for name, value in env.items():
        if name.startswith("TASKER__"):
            sect, _, key = name[len("TASKER__"):].lower().partition("__")
            config.setdefault(sect, {})[key.replace("__", ".")] = value
    for name, (sect, key) in {"TASKER_BIND": ("orchestration", "bind"), "TASKER_WORKER_BIND": ("worker", "bind"),
                              "DATABASE_URL": ("database", "url")}.items():
        if name in env:
            config.setdefault(sect, {})[key] = env[name]
    return config


def repo_config_files() -> Dict[str, str]:
    base = ROOT / "config/tasker"
    return {str(p.relative_to(base)): p.read_text() for p in base.rglob("*.toml")}


def port_of(bind: str) -> int:
    return int(bind.rsplit(":", 1)[1])


def check_env_keys(where: str, env: Dict[str, str]) -> None:
    for name in sorted(n for n in env if n.startswith("TASKER__")):
        sect, _, key = name[len("TASKER__"):].lower().partition("__")
        dotted = f"{sect}.{key}"
        if dotted in PENDING_KEYS and key not in CONFIG_KEYS.get(sect, set()):
            expect(f"{name}: the configuration key `{dotted}` (today an unknown key, which stops start-up)", where)
            continue
        check(key in CONFIG_KEYS.get(sect, set()), f"{where}: {name} names a configuration key", dotted)
