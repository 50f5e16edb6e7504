"""The kustomize overlays (deploy/overlays) and the GitOps objects, rendered as Argo CD would render them.

kubectl's kustomize renders offline; where kubectl is missing the rendering tests skip,
saying so. The canary's analysis must read metrics the gateway really exports, with the
labels it really sets.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.paths import ROOT

OVERLAYS = ROOT / "deploy" / "overlays"
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None,
                                   reason="kubectl is not on the PATH: the overlays are not rendered here")


def render(overlay: str) -> list[dict[str, Any]]:
    out = subprocess.run(["kubectl", "kustomize", str(OVERLAYS / overlay)], capture_output=True, text=True,  # noqa: S607
                         check=True, timeout=60)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def one(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


def containers(doc: dict) -> list[dict]:
    spec = doc.get("spec") or {}
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec.get("template", {}).get("spec", {}).get("containers", [])


@needs_kubectl
def test_production_runs_every_image_by_digest():
    images = [c["image"] for d in render("production") for c in containers(d)]
    assert images
    assert all(re.search(r"@sha256:[0-9a-f]{64}$", i) for i in images), images


@needs_kubectl
def test_the_gateway_rolls_out_as_a_canary_judged_by_prometheus():
    docs = render("production")
    rollout = one(docs, "Rollout", "shelfwatch-api")
    deployment = one(docs, "Deployment", "shelfwatch-api")
    assert rollout["spec"]["workloadRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": "shelfwatch-api", "scaleDown": "progressively"}
    assert deployment["spec"]["replicas"] == 0  # its pods are the Rollout's
    assert rollout["spec"]["selector"] == deployment["spec"]["selector"]
    canary = rollout["spec"]["strategy"]["canary"]
    weights = [s["setWeight"] for s in canary["steps"] if "setWeight" in s]
    assert weights == sorted(weights)
    assert weights[-1] == 100
    template = one(docs, "AnalysisTemplate", canary["analysis"]["templates"][0]["templateName"])
    declared = {a["name"] for a in template["spec"]["args"]}
    assert {a["name"] for a in canary["analysis"]["args"]} <= declared
    hpa = one(docs, "HorizontalPodAutoscaler", "shelfwatch-api")
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "Rollout"
    assert hpa["spec"]["minReplicas"] >= 2


def test_the_canary_analysis_reads_metrics_the_gateway_exports():
    from shared.metrics import HTTP_REQUESTS, HTTP_SECONDS

    template = yaml.safe_load((OVERLAYS / "production" / "analysis-template.yaml").read_text())
    exported = {"shelfwatch_http_requests_total": set(HTTP_REQUESTS._labelnames),
                "shelfwatch_http_request_seconds_bucket": set(HTTP_SECONDS._labelnames) | {"le"}}
    added_by_prometheus = {"namespace", "pod"}  # the ServiceMonitor's target labels
    for metric in template["spec"]["metrics"]:
        query = metric["provider"]["prometheus"]["query"]
        for name, labels in re.findall(r"(shelfwatch_\w+)\{([^}]*)\}", query):
            assert name in exported, name
            used = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", labels))
            assert used <= exported[name] | added_by_prometheus, (name, used)
        assert "{{args.canary-hash}}" in query  # the new pods only
        assert metric["failureLimit"] >= 1


@needs_kubectl
def test_local_runs_the_image_built_here():
    docs = render("local")
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert all(c["imagePullPolicy"] == "Never" and c["image"] == "shelfwatch:dev"
               for d in deployments for c in containers(d))
    assert one(docs, "Deployment", "shelfwatch-api")["spec"]["replicas"] == 1


def test_argo_cd_syncs_the_production_overlay():
    app = yaml.safe_load((ROOT / "deploy" / "argocd" / "application.yaml").read_text())
    path = app["spec"]["source"]["path"]
    assert (ROOT / path / "kustomization.yaml").is_file()
    assert path == "deploy/overlays/production"
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


@needs_kubectl
def test_the_edge_serves_the_api_and_pages_but_never_metrics():
    ingress = one(render("production"), "Ingress", "shelfwatch-api")
    paths = {p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    assert {"/v1", "/app", "/healthz"} <= paths
    assert not any(p == "/" or p.startswith("/metrics") for p in paths)
    assert ingress["spec"]["tls"]
