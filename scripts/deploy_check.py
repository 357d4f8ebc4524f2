"""The checks of scripts/deploy_check.sh that need a parser: the compose file, the Dockerfiles' runtime settings, the
rendered Kubernetes manifests, and that every probe calls a route the binary serves on the port it listens on.

Run it through scripts/deploy_check.sh, which installs what it needs (PyYAML, kubectl for `kubectl kustomize`,
kubernetes-validate) into .venv. Each check prints one line; the last line counts them. Exit status 1 if one failed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import tomllib
import urllib.parse
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

ROOT = Path(__file__).resolve().parent.parent
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


# --- What the binaries serve and read ---------------------------------------------------------------------------


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


# --- Dockerfiles ------------------------------------------------------------------------------------------------


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


# --- Kubernetes -------------------------------------------------------------------------------------------------


def render(directory: Path, components: Tuple[Path, ...] = ()) -> Optional[List[Dict[str, Any]]]:
    """`kubectl kustomize` of an overlay; with components, of a throwaway kustomization that adds them to it (kustomize
    takes only relative paths there)."""
    what = str(directory.relative_to(ROOT)) + "".join(f" + {c.relative_to(ROOT)}" for c in components)
    with tempfile.TemporaryDirectory() as tmp:
        if components:
            rel = lambda p: os.path.relpath(p, tmp)  # noqa: E731
            Path(tmp, "kustomization.yaml").write_text(yaml.safe_dump(
                {"resources": [rel(directory)], "components": [rel(c) for c in components]}))
            directory = Path(tmp)
        result = subprocess.run([str(VENV_BIN / "kubectl"), "kustomize", str(directory)],
                                capture_output=True, text=True)
    if not check(result.returncode == 0, f"kubectl kustomize {what}", result.stderr.strip()[:500]):
        return None
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def validate(overlay: str, docs: List[Dict[str, Any]]) -> None:
    core = [d for d in docs if not d["apiVersion"].startswith("keda.sh/")]
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"tasker-deploy-check-{overlay}-{os.getpid()}.yaml"
    out.write_text(yaml.safe_dump_all(core))
    try:
        for version in K8S_VERSIONS:
            result = subprocess.run([str(VENV_BIN / "kubernetes-validate"), "--strict", "--quiet", "-k", version,
                                     str(out)], capture_output=True, text=True)
            check(result.returncode == 0, f"{overlay}: {len(core)} documents valid (strict) against Kubernetes "
                  f"{version}", (result.stdout + result.stderr).strip()[:800])
    finally:
        out.unlink(missing_ok=True)
    crds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs if d["apiVersion"].startswith("keda.sh/"))
    if crds:
        print(f"note  {overlay}: KEDA CRDs not schema-validated (no schema offline), checked below: {', '.join(crds)}")


def env_of(container: Dict[str, Any], configmaps: Dict[str, Dict[str, str]],
           secrets: Dict[str, Dict[str, str]]) -> Dict[str, str]:
    """The container's environment as Kubernetes builds it: envFrom first, then env (which wins)."""
    env: Dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(configmaps.get(source["configMapRef"]["name"], {}))
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
        elif "secretKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = secrets.get(ref["name"], {}).get(ref["key"], "<secret>")
    return env


def mounted_config(pod: Dict[str, Any], container: Dict[str, Any], env: Dict[str, str],
                   configmaps: Dict[str, Dict[str, str]]) -> Tuple[Dict[str, str], str]:
    """The configuration files the container reads: the ConfigMap mounted at TASKER_CONFIG_DIR (with its items'
    paths), else the repository's config/tasker baked into the image."""
    config_dir = env.get("TASKER_CONFIG_DIR", "")
    for mount in container.get("volumeMounts", []):
        if mount["mountPath"].rstrip("/") == config_dir.rstrip("/"):
            volume = next(v for v in pod.get("volumes", []) if v["name"] == mount["name"])
            data = configmaps.get(volume.get("configMap", {}).get("name", ""), {})
            items = volume["configMap"].get("items") or [{"key": k, "path": k} for k in data]
            return {i["path"]: data.get(i["key"], "") for i in items}, f"ConfigMap {volume['configMap']['name']}"
    return repo_config_files(), "the image's config/tasker"


def check_overlay(overlay: str, docs: List[Dict[str, Any]], migration_job: bool = True) -> None:
    """migration_job: the manifests as meant (a Job migrates, the others check); False: with the migrate-at-start
    component (no Job, every process migrates at start-up, as the binaries do today)."""
    by_kind: Dict[str, List[Dict[str, Any]]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in by_kind.get("ConfigMap", [])}
    secrets = {d["metadata"]["name"]: d.get("stringData", {}) for d in by_kind.get("Secret", [])}
    listen: Dict[str, int] = {}  # Deployment name -> port its binary listens on
    workloads = [d for d in by_kind.get("Deployment", []) + by_kind.get("Job", [])
                 if d["spec"]["template"]["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") == "tasker"]
    names = sorted(d["metadata"]["name"] for d in workloads)
    wanted = ["tasker-server", "tasker-worker-python", "tasker-worker-rust"] + ["tasker-migrate"] * migration_job
    check(sorted(wanted) == names, f"{overlay}: the server, the two worker Deployments"
          + (" and the migration Job" if migration_job else ", no migration Job"), ", ".join(names))
    for workload in workloads:
        name, kind = workload["metadata"]["name"], workload["kind"]
        pod = workload["spec"]["template"]["spec"]
        for container in pod["containers"]:
            where = f"{overlay} {kind}/{name}"
            env = env_of(container, configmaps, secrets)
            check_env_keys(where, env)
            res = container.get("resources", {})
            check(bool(res.get("requests")) and bool(res.get("limits")), f"{where}: resource requests and limits",
                  f"{res.get('requests')} / {res.get('limits')}")
            sc = container.get("securityContext", {})
            non_root = pod.get("securityContext", {}).get("runAsNonRoot") is True
            check(non_root and sc.get("allowPrivilegeEscalation") is False,
                  f"{where}: runs as non-root without privilege escalation")
            check("DATABASE_URL" in env and any("secretKeyRef" in v.get("valueFrom", {})
                                                for v in container.get("env", []) if v["name"] == "DATABASE_URL"),
                  f"{where}: DATABASE_URL comes from a Secret")
            if kind == "Job":
                command = container.get("command", []) + container.get("args", [])
                check(command[:1] == ["tasker-server"] and env.get("TASKER__DATABASE__RUN_MIGRATIONS") == "true",
                      f"{where}: runs the migrations", " ".join(command))
                binary = (ROOT / "tasker-orchestration/src/bin/tasker-server.rs").read_text()
                if '"migrate"' not in binary:
                    expect(f"`{' '.join(command)}`: apply the migrations and exit (today the arguments are ignored "
                           "and a server starts, so the Job never completes)", where)
                continue
            if migration_job:
                check(env.get("TASKER__DATABASE__RUN_MIGRATIONS") == "false",
                      f"{where}: leaves the migrations to the Job (TASKER__DATABASE__RUN_MIGRATIONS=false)")
            else:
                check("TASKER__DATABASE__RUN_MIGRATIONS" not in env, f"{where}: migrates at start-up (the default)")
            image = container["image"].rsplit("/", 1)[-1]
            role, served = ("server", SERVER_ROUTES) if image.startswith("tasker-server") else ("worker", WORKER_ROUTES)
            files, source = mounted_config(pod, container, env, configmaps)
            config = load_config(files, env)
            bind = config["orchestration" if role == "server" else "worker"]["bind"]
            port = port_of(bind)
            listen[name] = port
            check(not bind.startswith("127."), f"{where}: {role} listens beyond loopback", f"{bind} (from {source})")
            for language in EMBEDDED_BIND:
                if image.startswith(f"tasker-worker-{language}"):
                    check_embedded_bind(where, language, env)
            ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            check(port in ports.values(), f"{where}: containerPort {port} declared")
            for probe, want in [("startupProbe", None), ("livenessProbe", "/health/live"),
                                    ("readinessProbe", "/health/ready")]:
                get = container.get(probe, {}).get("httpGet")
                if not check(get is not None, f"{where}: {probe} over HTTP"):
                    continue
                probe_port = ports.get(get["port"], get["port"])
                check(get["path"] in served and probe_port == port and get["path"] == (want or get["path"]),
                      f"{where}: {probe} {get['path']} is a {role} route on its port",
                      f"port {probe_port}, listens on {port}")
            annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
            if "prometheus.io/path" in annotations:
                check(annotations["prometheus.io/path"] in served and int(annotations["prometheus.io/port"]) == port,
                      f"{where}: Prometheus scrapes {annotations['prometheus.io/path']} "
                      f"on {annotations['prometheus.io/port']}")
            grace = pod.get("terminationGracePeriodSeconds", 30)
            if role == "worker":
                shutdown = int(config["worker"].get("shutdown_grace_ms", 5000)) / 1000
                check(grace >= shutdown + WORKER_STOP_MARGIN, f"{where}: terminationGracePeriodSeconds {grace} > "
                      f"worker.shutdown_grace_ms {shutdown:g} s + {WORKER_STOP_MARGIN} s")
            else:
                pre = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
                pre_s = int(pre[1]) if pre[:1] == ["sleep"] else 0
                shutdown = int(config["orchestration"].get("shutdown_grace_ms", 5000)) / 1000
                check(grace >= pre_s + shutdown + SERVER_STOP_MARGIN,
                      f"{where}: terminationGracePeriodSeconds {grace} > "
                      f"preStop {pre_s} s + orchestration.shutdown_grace_ms {shutdown:g} s + {SERVER_STOP_MARGIN} s")
    check_selectors(overlay, by_kind, workloads, listen)
    check_autoscaling(overlay, by_kind)


def selects(selector: Dict[str, Any], labels: Dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def check_selectors(overlay: str, by_kind: Dict[str, List[Dict[str, Any]]], workloads: List[Dict[str, Any]],
                    listen: Dict[str, int]) -> None:
    deployments = [d for d in workloads if d["kind"] == "Deployment"]
    for d in deployments:
        labels = d["spec"]["template"]["metadata"]["labels"]
        name = d["metadata"]["name"]
        check(any(selects(p["spec"]["selector"], labels) for p in by_kind.get("PodDisruptionBudget", [])),
              f"{overlay}: a PodDisruptionBudget covers {name}")
        policies = [p for p in by_kind.get("NetworkPolicy", []) if selects(p["spec"]["podSelector"], labels)]
        ingress_ports = {port["port"] for p in policies for rule in p["spec"].get("ingress", [])
                         for port in rule.get("ports", [])}
        check(listen.get(name) in ingress_ports, f"{overlay}: NetworkPolicy lets {name}'s port {listen.get(name)} in")
        egress_ports = {port["port"] for p in policies for rule in p["spec"].get("egress", [])
                        for port in rule.get("ports", [])}
        check(5432 in egress_ports and 53 in egress_ports,
              f"{overlay}: NetworkPolicy lets {name} reach DNS and PostgreSQL")
    for svc in by_kind.get("Service", []):
        backends = [d for d in deployments if selects({"matchLabels": svc["spec"]["selector"]},
                                                       d["spec"]["template"]["metadata"]["labels"])]
        for d in backends:
            ports = {p.get("name"): p["containerPort"] for p in d["spec"]["template"]["spec"]["containers"][0]["ports"]}
            for p in svc["spec"]["ports"]:
                target = ports.get(p["targetPort"], p["targetPort"])
                check(target == listen.get(d["metadata"]["name"]),
                      f"{overlay}: Service/{svc['metadata']['name']} port {p['port']} "
                      f"reaches the listened port {target}")


def check_autoscaling(overlay: str, by_kind: Dict[str, List[Dict[str, Any]]]) -> None:
    deployments = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}
    hpa_targets = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind.get("HorizontalPodAutoscaler", [])}
    for h in by_kind.get("HorizontalPodAutoscaler", []):
        target = h["spec"]["scaleTargetRef"]["name"]
        pod = deployments.get(target, {}).get("spec", {}).get("template", {}).get("spec", {})
        container = pod.get("containers", [{}])[0]
        check(target in deployments and "cpu" in container.get("resources", {}).get("requests", {}),
              f"{overlay}: HPA/{h['metadata']['name']} scales {target}, which requests CPU")
    auths = {a["metadata"]["name"]: a for a in by_kind.get("TriggerAuthentication", [])}
    for so in by_kind.get("ScaledObject", []):
        name, spec = so["metadata"]["name"], so["spec"]
        target = spec.get("scaleTargetRef", {}).get("name")
        check(target in deployments and target not in hpa_targets,
              f"{overlay}: ScaledObject/{name} scales Deployment {target} (and no HPA of ours does)")
        check("replicas" not in deployments.get(target, {}).get("spec", {}),
              f"{overlay}: Deployment {target} leaves replicas to the autoscaler")
        check(0 < spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 0),
              f"{overlay}: ScaledObject/{name} replicas {spec.get('minReplicaCount')}..{spec.get('maxReplicaCount')}")
        for trigger in spec.get("triggers", []):
            meta = trigger.get("metadata", {})
            query = meta.get("query", "")
            check(trigger.get("type") == "postgresql" and "pgmq." in query and "vt <=" in query
                  and meta.get("targetQueryValue", "").isdigit(),
                  f"{overlay}: ScaledObject/{name} counts visible pgmq messages with the postgresql scaler")
            auth = auths.get(trigger.get("authenticationRef", {}).get("name", ""))
            refs = auth["spec"].get("secretTargetRef", []) if auth else []
            check(any(r["parameter"] == "connection" and r["name"] == "tasker-database" and r["key"] == "DATABASE_URL"
                      for r in refs),
                  f"{overlay}: ScaledObject/{name} connects with the Secret tasker-database (DATABASE_URL)")


def check_templates_configmap() -> None:
    section("config/kustomization.yaml: the templates ConfigMap carries every template of the deployed catalog")
    kustomization = yaml.safe_load((ROOT / "config/kustomization.yaml").read_text())
    generators = {g["name"]: g for g in kustomization["configMapGenerator"]}
    listed = {entry.split("=", 1)[-1] for entry in generators["tasker-templates"]["files"]}
    for directory in ["config/templates", "config/templates/python"]:
        files = sorted(str(p.relative_to(ROOT / "config")) for p in (ROOT / directory).glob("*.y*ml"))
        missing = [f for f in files if f not in listed]
        check(not missing, f"{directory}: all {len(files)} templates in the ConfigMap", ", ".join(missing))


# --- The KEDA queries, run against a scratch database -----------------------------------------------------------

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
