"""`shelfwatch-dev bench --quick` runs end to end and reports every figure the issue asks for.

One run (~2 minutes on 2 busy cores): the engine children (Ultralytics, ShelfWatch FP32
and INT8, OpenVINO), then the farm on its own Redis, moto S3 server and throw-away
database. Only the shape of the report is checked here, never the speed: numbers on a
shared machine are noise, the benchmark's job is to report them.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from tests.paths import ROOT

INT8 = ROOT / "models" / "shelfwatch-v1-int8.onnx"
FP32 = ROOT / "models" / "shelfwatch-v1-fp32.onnx"

pytestmark = pytest.mark.integration

REQUIRED = [
    ("engine", "ratios", "int8_vs_ultralytics"),
    ("engine", "ratios", "int8_vs_fp32"),
    ("engine", "ratios", "fp32_vs_ultralytics"),
    ("engine", "model_only_ratio_int8_vs_fp32"),
    ("engine", "model_only_ratio_int8_vs_openvino"),
    ("engine", "images_per_s", "ultralytics"),
    ("engine", "images_per_s", "fp32"),
    ("engine", "images_per_s", "int8"),
    ("engine", "gflops_per_image"),
    ("farm", "efficiency"),
    ("farm", "photos_per_s"),
    ("farm", "engine_photos_per_s"),
    ("farm", "latency_ms", "p50"),
    ("farm", "latency_ms", "p95"),
    ("farm", "latency_ms", "p99"),
    ("farm", "saturated_latency_ms", "p50"),
    ("farm", "saturated_latency_ms", "p95"),
    ("farm", "saturated_latency_ms", "p99"),
    ("gateway", "submit_ms", "p50"),
    ("gateway", "submit_ms", "p99"),
]


def _get(report: dict, path: tuple[str, ...]) -> object:
    value: object = report
    for key in path:
        assert isinstance(value, dict), f"missing {'.'.join(path)}"
        assert key in value, f"missing {'.'.join(path)}"
        value = value[key]
    return value


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    for model in (INT8, FP32):
        assert model.exists(), f"{model.name}: the pinned INT8 model and its FP32 original must both be in models/"
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "devtools.bench.main", "--quick", "--json", str(out),
                           "--int8", str(INT8), "--fp32", str(FP32)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert out.with_suffix(".png").stat().st_size > 10_000, "the plot was not written"
    return json.loads(out.read_text())


def test_required_figures_are_finite_and_positive(report):
    for path in REQUIRED:
        value = _get(report, path)
        assert isinstance(value, int | float), f"{'.'.join(path)} = {value!r}"
        assert math.isfinite(value), f"{'.'.join(path)} = {value!r}"
        assert value > 0, f"{'.'.join(path)} = {value!r}"


def test_accuracy_is_reported_for_both_precisions(report):
    for k in ("fp32", "int8"):
        value = _get(report, ("engine", "map50", k))
        assert isinstance(value, float)
        assert 0.0 <= value <= 1.0


def test_nothing_failed_and_targets_are_listed(report):
    assert "errors" not in report["engine"], report["engine"].get("errors")
    assert report["gateway"]["errors"] == 0
    assert report["farm"]["saturated"]["done"] == report["farm"]["saturated"]["submitted"]
    assert {t["target"] for t in report["targets"]}
    assert all("met" in t for t in report["targets"])
