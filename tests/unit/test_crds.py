"""The custom resources in deploy/ against their operators' CRD schemas (devtools/crds.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from devtools import crds

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted([*(ROOT / "deploy").glob("k8s/*.yaml"), *(ROOT / "deploy").glob("overlays/*/*.yaml"),
                    ROOT / "deploy" / "argocd" / "application.yaml"])
OPERATORS = ("keda.sh", "monitoring.coreos.com", "argoproj.io")  # the API groups deploy/ uses beyond the core
CUSTOM = [(p, d) for p, d in crds.documents(MANIFESTS) if d.get("apiVersion", "").split("/")[0] in OPERATORS]


def _one(kind: str) -> dict:
    return copy.deepcopy(next(d for _, d in CUSTOM if d["kind"] == kind))


def test_every_custom_resource_has_its_crd_schema_and_passes_it():
    kinds = {d["kind"] for _, d in CUSTOM}
    assert {"ScaledObject", "TriggerAuthentication", "PodMonitor", "ServiceMonitor", "PrometheusRule", "Rollout",
            "AnalysisTemplate", "Application"} <= kinds
    for path, doc in CUSTOM:
        assert crds.problems(doc) == [], (path.name, doc["kind"])


def test_a_misspelt_field_is_caught_not_pruned_silently():
    scaled = _one("ScaledObject")
    scaled["spec"]["minReplicas"] = scaled["spec"].pop("minReplicaCount", 0)  # the HPA's name, not KEDA's
    found = crds.problems(scaled)
    assert found
    assert any("minReplicas" in p and p.startswith("spec") for p in found)


def test_wrong_types_and_values_are_caught():
    scaled = _one("ScaledObject")
    scaled["spec"]["maxReplicaCount"] = "ten"
    assert any(p.startswith("spec.maxReplicaCount") for p in crds.problems(scaled) or [])
    rollout = _one("Rollout")
    rollout["spec"]["strategy"]["canary"]["steps"].append({"setWeight": "half"})  # int, not a word
    assert any("setWeight" in p for p in crds.problems(rollout) or [])


def test_int_or_string_and_open_maps_are_accepted():
    rollout = _one("Rollout")
    rollout["spec"]["strategy"]["canary"]["maxSurge"] = "25%"  # an x-kubernetes-int-or-string field
    rollout["metadata"]["labels"] = {"anything": "goes"}
    assert crds.problems(rollout) == []


def test_a_kind_without_a_vendored_schema_is_not_checked():
    assert crds.problems({"apiVersion": "example.com/v1", "kind": "Widget"}) is None


@pytest.mark.parametrize("path", sorted((ROOT / "deploy" / "crds").glob("*.json")), ids=lambda p: p.stem)
def test_each_vendored_schema_says_where_it_came_from(path):
    import json

    vendored = json.loads(path.read_text())
    assert vendored["source"].startswith("github.com/")
    assert "@" in vendored["source"]
    assert vendored["schema"]["type"] == "object"
