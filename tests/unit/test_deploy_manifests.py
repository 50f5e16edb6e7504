"""The Kubernetes manifests in deploy/k8s: each worker pool scales on its own work in Postgres.

Pure checks on the YAML (no cluster): the kustomization's files exist and parse, every
ScaledObject drives a Deployment that is deployed, each worker pool has one postgresql
trigger counting its own table and no CPU trigger, re-scans scale to zero, a scale-down
can finish the longest batch, and beat is exactly one pod that nothing scales. With
kubectl on the PATH the kustomization is also rendered (`kubectl kustomize`, offline).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.paths import ROOT

K8S = ROOT / "deploy" / "k8s"

Doc = dict[str, Any]

# queue -> (table the work query reads, a fragment it must contain)
POOLS = {
    "audits": ("jobs", "queue = 'audits'"),
    "rescans": ("rescan_runs", "state = 'running'"),
    "webhooks": ("deliveries", "status = 'pending'"),
}
DEFAULT_TASK_TIME_LIMIT_S = 600


def _load(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _kustomization() -> Doc:
    doc = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert isinstance(doc, dict)
    return doc


def _resources() -> list[Doc]:
    docs: list[Doc] = []
    for name in _kustomization()["resources"]:
        docs += _load(K8S / name)
    return docs


def _of_kind(kind: str) -> list[Doc]:
    return [d for d in _resources() if d["kind"] == kind]


def _container(deployment: Doc) -> Doc:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, deployment["metadata"]["name"]
    container = containers[0]
    assert isinstance(container, dict)
    return container


def _args(deployment: Doc) -> list[str]:
    return [str(a) for a in _container(deployment).get("args", [])]


def _queue_of(deployment: Doc) -> str | None:
    """The queue a `shelfwatch worker --queues Q` Deployment consumes; None for other roles."""
    args = _args(deployment)
    if not args or args[0] != "worker":
        return None
    return args[args.index("--queues") + 1] if "--queues" in args else "audits"


def _workers() -> dict[str, Doc]:
    pools: dict[str, Doc] = {}
    for d in _of_kind("Deployment"):
        queue = _queue_of(d)
        if queue is not None:
            assert queue not in pools, f"two Deployments consume {queue}"
            pools[queue] = d
    return pools


def _scaled_objects_for(deployment_name: str) -> list[Doc]:
    return [s for s in _of_kind("ScaledObject") if s["spec"]["scaleTargetRef"]["name"] == deployment_name]


def _scaled_object_of(queue: str) -> Doc:
    found = _scaled_objects_for(_workers()[queue]["metadata"]["name"])
    assert len(found) == 1, f"{queue}: {len(found)} ScaledObjects"
    return found[0]


def _squeeze(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


def _task_time_limit_s() -> int:
    for cm in _of_kind("ConfigMap"):
        if "TASK_TIME_LIMIT_S" in cm.get("data", {}):
            return int(cm["data"]["TASK_TIME_LIMIT_S"])
    return DEFAULT_TASK_TIME_LIMIT_S


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        if expr["operator"] != "In":
            raise AssertionError(f"unexpected selector operator {expr['operator']}")
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


# --- the kustomization ---------------------------------------------------------------


def test_every_listed_file_exists_and_parses():
    names = _kustomization()["resources"]
    assert names
    for name in names:
        path = K8S / name
        assert path.is_file(), f"{name} is listed in kustomization.yaml but missing"
        docs = _load(path)
        assert docs, f"{name} has no document"
        for doc in docs:
            assert doc.get("apiVersion"), name
            assert doc.get("kind"), name
            assert doc.get("metadata", {}).get("name"), name


def test_every_yaml_file_in_the_folder_is_listed_or_an_example():
    listed = set(_kustomization()["resources"]) | {"kustomization.yaml"}
    for path in sorted(K8S.glob("*.yaml")):
        assert path.name in listed or ".example." in path.name, f"{path.name} is not in kustomization.yaml"


def test_no_secret_is_deployed_from_these_files():
    # Secrets are created out of band (secret.example.yaml shows their shape)
    assert not _of_kind("Secret")


# --- KEDA -----------------------------------------------------------------------------


def test_every_scaled_object_targets_a_listed_deployment():
    deployments = {d["metadata"]["name"] for d in _of_kind("Deployment")}
    scaled = _of_kind("ScaledObject")
    assert scaled
    for so in scaled:
        target = so["spec"]["scaleTargetRef"]
        assert target.get("kind", "Deployment") == "Deployment"
        assert target["name"] in deployments, f"{so['metadata']['name']} scales a Deployment that is not deployed"


def test_there_is_one_worker_pool_per_queue():
    assert set(_workers()) == set(POOLS)


@pytest.mark.parametrize("queue", sorted(POOLS))
def test_each_pool_scales_on_its_own_work_in_postgres(queue: str):
    table, fragment = POOLS[queue]
    triggers = _scaled_object_of(queue)["spec"]["triggers"]
    postgres = [t for t in triggers if t["type"] == "postgresql"]
    assert len(postgres) == 1
    query = _squeeze(postgres[0]["metadata"]["query"])
    assert re.search(rf"\bFROM {table}\b", query, re.IGNORECASE), query
    assert fragment in query
    assert float(postgres[0]["metadata"]["targetQueryValue"]) > 0


def test_the_audits_query_counts_queued_and_running_jobs():
    query = _squeeze(next(t for t in _scaled_object_of("audits")["spec"]["triggers"]
                          if t["type"] == "postgresql")["metadata"]["query"])
    assert "'queued'" in query
    assert "'running'" in query


@pytest.mark.parametrize("queue", sorted(POOLS))
def test_no_pool_scales_on_cpu_or_the_broker(queue: str):
    kinds = {t["type"] for t in _scaled_object_of(queue)["spec"]["triggers"]}
    assert "cpu" not in kinds
    assert "memory" not in kinds
    assert "redis" not in kinds


@pytest.mark.parametrize("queue", sorted(POOLS))
def test_postgres_credentials_come_from_a_trigger_authentication(queue: str):
    auths = {a["metadata"]["name"]: a for a in _of_kind("TriggerAuthentication")}
    for trigger in _scaled_object_of(queue)["spec"]["triggers"]:
        if trigger["type"] != "postgresql":
            continue
        assert trigger["authenticationRef"]["name"] in auths
        assert "password" not in trigger["metadata"]
        assert "connection" not in trigger["metadata"]
        refs = auths[trigger["authenticationRef"]["name"]]["spec"]["secretTargetRef"]
        assert "password" in {r["parameter"] for r in refs}


def test_rescans_scale_to_zero():
    spec = _scaled_object_of("rescans")["spec"]
    assert spec["minReplicaCount"] == 0
    trigger = next(t for t in spec["triggers"] if t["type"] == "postgresql")
    assert float(trigger["metadata"].get("activationTargetQueryValue", 0)) == 0


def test_interactive_audits_are_never_cold():
    assert _scaled_object_of("audits")["spec"]["minReplicaCount"] >= 1


@pytest.mark.parametrize("queue", sorted(POOLS))
def test_scale_down_is_stabilised_and_bounded(queue: str):
    spec = _scaled_object_of(queue)["spec"]
    assert spec["maxReplicaCount"] >= max(spec.get("minReplicaCount", 0), 1)
    scale_down = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
    assert scale_down["stabilizationWindowSeconds"] > 0
    assert scale_down["policies"]


# --- the Deployments ------------------------------------------------------------------


@pytest.mark.parametrize("queue", sorted(POOLS))
def test_a_scale_down_can_finish_the_longest_batch(queue: str):
    # Celery's warm shutdown finishes the batch in hand; the kubelet must wait for it
    grace = _workers()[queue]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > max(_task_time_limit_s(), DEFAULT_TASK_TIME_LIMIT_S)


@pytest.mark.parametrize("queue", sorted(POOLS))
def test_keda_owns_the_worker_replica_count(queue: str):
    # a `replicas:` here would reset the pool's size on every `kubectl apply`
    assert "replicas" not in _workers()[queue]["spec"]


def test_the_webhook_pool_runs_threads():
    args = _args(_workers()["webhooks"])
    assert args[args.index("--pool") + 1] == "threads"


def test_beat_is_exactly_one_pod_that_nothing_scales():
    beats = [d for d in _of_kind("Deployment") if _args(d)[:1] == ["beat"]]
    assert len(beats) == 1
    beat = beats[0]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    name = beat["metadata"]["name"]
    assert not _scaled_objects_for(name)
    hpas = [h for h in _of_kind("HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == name]
    assert not hpas


def test_every_pod_runs_restricted():
    for d in _of_kind("Deployment"):
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, d["metadata"]["name"]
        container = _container(d)
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, d["metadata"]["name"]
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], d["metadata"]["name"]
        assert "cpu" in container["resources"]["requests"], d["metadata"]["name"]
        assert "memory" in container["resources"]["limits"], d["metadata"]["name"]


def test_every_deployment_has_an_egress_policy_of_its_own():
    # default-deny drops whatever no policy allows: a new pool left out has no database
    policies = [p for p in _of_kind("NetworkPolicy")
                if "Egress" in p["spec"].get("policyTypes", []) and p["spec"]["podSelector"]]
    for d in _of_kind("Deployment"):
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert any(_selects(p["spec"]["podSelector"], labels) for p in policies), d["metadata"]["name"]


def _ingress_ports(labels: dict[str, str]) -> set[int]:
    """TCP ports any NetworkPolicy lets into a pod with these labels."""
    ports: set[int] = set()
    for p in _of_kind("NetworkPolicy"):
        if "Ingress" in p["spec"].get("policyTypes", []) and p["spec"]["podSelector"] \
                and _selects(p["spec"]["podSelector"], labels):
            ports |= {int(port["port"]) for rule in p["spec"].get("ingress", []) for port in rule.get("ports", [])}
    return ports


@pytest.mark.parametrize("queue", sorted(POOLS))
def test_each_pools_metrics_are_served_scraped_and_let_through(queue: str):
    # the worker alerts select job shelfwatch-worker: a pool whose port is unset, undeclared,
    # not selected by the PodMonitor or blocked by default-deny is invisible to them
    d = _workers()[queue]
    container = _container(d)
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    port = env.get("WORKER_METRICS_PORT")
    if port is None:
        port = next(cm["data"]["WORKER_METRICS_PORT"] for cm in _of_kind("ConfigMap")
                    if "WORKER_METRICS_PORT" in cm.get("data", {}))
    assert int(port) > 0, "WORKER_METRICS_PORT 0 serves no metrics"
    declared = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    assert declared.get("metrics") == int(port)
    labels = d["spec"]["template"]["metadata"]["labels"]
    monitors = [m for m in _of_kind("PodMonitor") if _selects(m["spec"]["selector"], labels)]
    assert len(monitors) == 1, "exactly one PodMonitor scrapes the pool"
    endpoint, = [e for e in monitors[0]["spec"]["podMetricsEndpoints"] if e["port"] == "metrics"]
    assert endpoint["path"] == "/metrics"
    assert {"targetLabel": "job", "replacement": "shelfwatch-worker"} in endpoint["relabelings"]
    assert int(port) in _ingress_ports(labels)


def test_the_worker_job_name_is_the_one_the_alerts_use():
    rules = (ROOT / "deploy" / "prometheus" / "rules.yml").read_text()
    assert 'job="shelfwatch-worker"' in rules


def test_only_the_gateway_and_the_pools_metrics_accept_connections():
    for d in _of_kind("Deployment") + _of_kind("Job") + _of_kind("CronJob"):
        template = d["spec"]["jobTemplate"]["spec"]["template"] if d["kind"] == "CronJob" else d["spec"]["template"]
        name = d["metadata"]["name"]
        pool = d["kind"] == "Deployment" and _queue_of(d) is not None
        allowed = {8000} if name == "shelfwatch-api" else {9101} if pool else set()
        assert _ingress_ports(template["metadata"]["labels"]) == allowed, name


# --- rendering (only where kubectl is installed) --------------------------------------


def test_the_kustomization_renders():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    out = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d is not None]
    assert {(d["kind"], d["metadata"]["name"]) for d in rendered} == \
        {(d["kind"], d["metadata"]["name"]) for d in _resources()}
    namespaced = [d for d in rendered if d["kind"] != "Namespace"]
    assert {d["metadata"].get("namespace") for d in namespaced} == {"shelfwatch"}
