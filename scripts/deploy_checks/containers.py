"""The Dockerfiles' runtime settings and the compose file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Tuple

import yaml

from deploy_checks.common import (
    ROOT, SERVER_ROUTES, WORKER_ROUTES, check, check_env_keys, load_config, port_of, repo_config_files, section,
)


def dockerfile_instructions(path: Path) -> List[Tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "") for ln in lines]


def dockerfile_env(instructions: List[Tuple[str, str]]) -> Dict[str, str]:
    env: Dict[str, str] = {}
    for op, arg in instructions:
        if op == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", arg)))
    return env


def check_dockerfiles() -> None:
    section("Dockerfiles: non-root user, STOPSIGNAL, HEALTHCHECK on a served route and the listened port")
    cli = (ROOT / "tasker-cli/src/commands/server.rs").read_text()
    cli_path = re.search(r'get\("(/health/[a-z]+)"\)', cli)
    for path in sorted((ROOT / "deploy/docker").glob("*.Dockerfile")):
        name = path.name
        ins = dockerfile_instructions(path)
        users = [arg for op, arg in ins if op == "USER"]
        check(bool(users) and not users[-1].split(":")[0] in ("root", "0"), f"{name}: runs as a non-root user",
              users[-1] if users else "no USER")
        check(("STOPSIGNAL", "SIGTERM") in ins, f"{name}: STOPSIGNAL SIGTERM")
        health = [arg for op, arg in ins if op == "HEALTHCHECK"]
        if not check(bool(health), f"{name}: has a HEALTHCHECK"):
            continue
        env = dockerfile_env(ins)
        role, served = ("server", SERVER_ROUTES) if name.startswith("server") else ("worker", WORKER_ROUTES)
        config = load_config(repo_config_files(), env)
        port = port_of(config["orchestration" if role == "server" else "worker"]["bind"])
        url = re.search(r"http://[^/'\"\s]+:(\d+)(/[^'\"\s]*)", health[-1])
        if url is None and '"tasker", "health"' in health[-1] and cli_path:
            url = re.search(r"http://[^/'\"\s]+:(\d+)()", env.get("TASKER_URL", ""))
            probe_path = cli_path.group(1)
        else:
            probe_path = url.group(2) if url else ""
        check(url is not None and int(url.group(1)) == port and probe_path in served,
              f"{name}: HEALTHCHECK calls a {role} route on the port it listens on",
              f"{probe_path} on {url.group(1) if url else '?'}, listens on {port}")
        exposed = [int(p) for op, arg in ins if op == "EXPOSE" for p in arg.split()]
        check(port in exposed, f"{name}: EXPOSE {port}")
        for language in EMBEDDED_BIND:
            if name.startswith(f"worker-{language}"):
                check_embedded_bind(name, language, env)


# --- compose.yaml -----------------------------------------------------------------------------------------------

COMPOSE_REQUIRED = ["postgres", "server", "worker-rust", "worker-python"]
COMPOSE_DEPENDS = {"server": {"postgres"}, "worker-rust": {"server"}, "worker-python": {"server"},
                   "worker-ruby": {"server"}}
# An embedded worker serves HTTP only when its script passes a bind address: the examples read TASKER_WORKER_BIND.
EMBEDDED_BIND = {"python": ("bindings/python/examples/worker.py", 'bind=os.environ.get("TASKER_WORKER_BIND")'),
                 "ruby": ("bindings/ruby/examples/worker.rb", 'bind: ENV.fetch("TASKER_WORKER_BIND", nil)')}


def check_compose() -> None:
    section("deploy/compose.yaml: services, builds, healthchecks, start order, ports")
    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    services = compose.get("services", {})
    for name in COMPOSE_REQUIRED + sorted(set(services) - set(COMPOSE_REQUIRED)):
        if not check(name in services, f"compose: service {name}"):
            continue
        svc = services[name]
        check("image" in svc or "build" in svc, f"compose: {name} has an image or a build")
        if "build" in svc:
            context = (ROOT / "deploy" / svc["build"]["context"]).resolve()
            dockerfile = context / svc["build"]["dockerfile"]
            check(context == ROOT and dockerfile.is_file(), f"compose: {name} builds from the repository root",
                  str(dockerfile.relative_to(ROOT)))
            target = svc["build"].get("target")
            if target:
                stages = re.findall(r"^FROM .* AS (\S+)", dockerfile.read_text(), re.M | re.I)
                check(target in stages, f"compose: {name} build target `{target}` is a stage")
        test = svc.get("healthcheck", {}).get("test")
        check(bool(test) and test[0] in ("CMD", "CMD-SHELL"), f"compose: {name} has a healthcheck")
        deps = svc.get("depends_on", {})
        for dep in COMPOSE_DEPENDS.get(name, set()):
            cond = deps.get(dep, {}).get("condition") if isinstance(deps, dict) else None
            check(cond == "service_healthy", f"compose: {name} waits for {dep} to be healthy", str(cond))
        if name == "postgres":
            continue
        env = {k: str(v) for k, v in svc.get("environment", {}).items()}
        check_env_keys(f"compose {name}", env)
        role, served = ("server", SERVER_ROUTES) if name == "server" else ("worker", WORKER_ROUTES)
        bind = load_config(repo_config_files(), env)["orchestration" if role == "server" else "worker"]["bind"]
        check(not bind.startswith("127."), f"compose: {name} listens beyond loopback", bind)
        cmd = " ".join(test or [])
        url = re.search(r"http://[^/'\"\s]+:(\d+)(/[^'\"\s]*)?", cmd)
        path = url.group(2) if url and url.group(2) else ("/health/ready" if " health" in cmd else "")
        check(url is not None and int(url.group(1)) == port_of(bind) and path in served,
              f"compose: {name} healthcheck calls a {role} route on its port",
              f"{path} on {url.group(1) if url else '?'}")
        published = [str(p).rsplit(":", 1)[-1] for p in svc.get("ports", [])]
        check(str(port_of(bind)) in published, f"compose: {name} publishes its port {port_of(bind)}")
        for language in EMBEDDED_BIND:
            if name.endswith(language):
                check_embedded_bind(f"compose {name}", language, env)


def check_embedded_bind(where: str, language: str, env: Dict[str, str]) -> None:
    script, call = EMBEDDED_BIND[language]
    check(call in (ROOT / script).read_text() and "TASKER_WORKER_BIND" in env,
          f"{where}: {script} passes TASKER_WORKER_BIND ({env.get('TASKER_WORKER_BIND')}), so it serves /health")
