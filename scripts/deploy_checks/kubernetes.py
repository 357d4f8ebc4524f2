"""The rendered Kubernetes manifests: validation, probes against the routes and ports the binaries serve, selectors,
autoscaling and the templates ConfigMap."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

from deploy_checks.common import (
    K8S_VERSIONS, ROOT, SERVER_ROUTES, SERVER_STOP_MARGIN, VENV_BIN, WORKER_ROUTES, WORKER_STOP_MARGIN, check,
    check_env_keys, expect, load_config, port_of, repo_config_files, section,
)
from deploy_checks.containers import EMBEDDED_BIND, check_embedded_bind


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
