"""The whole model pipeline on a tiny config: generate → train → ONNX → INT8 → evaluate → card.

This proves the code path `make train` runs (quality is the committed model's card's
business, checked in tests/integration/test_detector_reference.py and the issue notes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from shared.detector import Detector, sha256_file
from tests.paths import ROOT, SAMPLES


@pytest.mark.slow
def test_smoke_training_builds_a_servable_int8_model(tmp_path):
    out = tmp_path / "models"
    # Ultralytics silences its MLflow logger under pytest; the build runs as a user would run it
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    r = subprocess.run([sys.executable, "-m", "training.build", "--config", "training/configs/smoke.yaml",
                        "--workdir", str(tmp_path / "work"), "--out", str(out)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "gate:" in r.stdout
    assert "PASS" in r.stdout
    for precision in ("fp32", "int8"):
        model = out / f"shelfwatch-smoke-{precision}.onnx"
        card = json.loads(model.with_suffix(".json").read_text())
        assert card["sha256"] == sha256_file(model)
        assert card["precision"] == precision
        assert card["classes"] == ["product"]
        m = card["metrics"]["synthetic_val"][precision]
        assert set(m) >= {"map50", "map50_95", "precision", "recall", "count_error"}
        assert card["latency_ms_1thread"] > 0
        assert card["contain_threshold"] == 0.85
        assert card["keep_layers"] is True
        assert card["zoom_out"] == {"median_side": 70, "factor": 0.8}
    # style 3 printed real faces cut from the photos by a trained model
    work = tmp_path / "work"
    assert len(list((work / "faces-shelfwatch-v1-int8-conf0.5").glob("*.jpg"))) > 20
    assert len(list(next(work.glob("synthetic-g*-style3-faces-*")).glob("images/train/*.jpg"))) == 2
    # style 4 from a bank without stacks, and pseudo-labels with the teacher's stack boxes masked
    assert "stacks left out" in next((work / "faces-shelfwatch-v1-int8-conf0.5-nostacks").glob("*.done")).read_text()
    assert len(list(next(work.glob("synthetic-g*-style4-faces-*-nostacks")).glob("images/train/*.jpg"))) == 2
    pseudo = work / "pseudo-shelfwatch-v1-int8-conf0.4-ignore0.1-nostacks"
    assert len(list((pseudo / "labels" / "train").glob("*.txt"))) == len(SAMPLES)
    # the INT8 graph really is quantized, and the serving detector runs it
    import onnx

    ops = {n.op_type for n in onnx.load(str(out / "shelfwatch-smoke-int8.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    det = Detector(out / "shelfwatch-smoke-int8.onnx")
    assert isinstance(det.detect(SAMPLES[0].read_bytes()), list)
    # MLflow tracked the run's parameters and per-epoch metrics in its local store
    import sqlite3

    with sqlite3.connect(tmp_path / "work" / "mlflow.db") as db:
        keys = {k for (k,) in db.execute("SELECT DISTINCT key FROM metrics")}
    assert any("mAP50" in k for k in keys), keys
    # --weights: the same weights exported as another version, without training (how v9 and v11 were made)
    again = tmp_path / "again"
    r = subprocess.run([sys.executable, "-m", "training.build", "--config", "training/configs/smoke.yaml",
                        "--workdir", str(tmp_path / "work"), "--out", str(again),
                        "--weights", str(out / "checkpoints" / "shelfwatch-smoke.pt")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "Starting training" not in r.stdout + r.stderr
    card = json.loads((again / "shelfwatch-smoke-int8.json").read_text())
    assert card["trained_from"].startswith("not trained: the weights of")
    assert not (again / "checkpoints").exists()  # the weights' own checkpoint stays the one to fine-tune
    assert not list((out / "checkpoints").glob("*.onnx"))  # nothing written beside the given weights


@pytest.mark.slow
def test_the_larger_network_builds_through_the_same_pipeline(tmp_path):
    """``s1.yaml``'s network (YOLO11s) and recipe on a tiny synthetic set: trained, exported,
    quantized and carded as the nano model is; the served detector runs it."""
    import yaml

    cfg = yaml.safe_load((ROOT / "training" / "configs" / "s1.yaml").read_text())
    cfg["name"] = "shelfwatch-s1-smoke"
    cfg["data"] = {"synthetic": [{"n_train": 4, "n_val": 2, "seed": 1, "size": 256}]}
    cfg["train"].update({"imgsz": 128, "epochs": 1, "batch": 4, "warmup_epochs": 0, "close_mosaic": 0})
    cfg["export"] = {"imgsz": 128}
    cfg["quantize"] = {"calibration_photos": 2}
    cfg["gate"] = {"min_int8_map50": 0.0, "max_int8_map50_drop": 1.0}
    cfg.pop("threshold", None)
    config, out = tmp_path / "s1-smoke.yaml", tmp_path / "models"
    config.write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_CURRENT_TEST", "TRAIN_DEVICE")}
    r = subprocess.run([sys.executable, "-m", "training.build", "--config", str(config),
                        "--workdir", str(tmp_path / "work"), "--out", str(out)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "YOLO11s summary" in r.stdout + r.stderr  # the larger network, not the nano one
    model = out / "shelfwatch-s1-smoke-int8.onnx"
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["architecture"] == "yolo11s.yaml"
    assert card["sha256"] == sha256_file(model)
    assert isinstance(Detector(model).detect(SAMPLES[0].read_bytes()), list)
