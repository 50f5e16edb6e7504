"""The committed detector against stored reference detections (boxes ±2 px, scores ±1e-3).

A change to preprocessing, the ONNX session, NMS or box mapping that moves results
shows up here. Batch 1 and batch N must give the same detections.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from shared.detector import Detector
from tests.make_reference import MODELS, REFERENCE_DIR
from tests.paths import SAMPLES

BOX_TOL, SCORE_TOL = 2.0, 1e-3


@pytest.fixture(scope="module", params=list(dict.fromkeys(MODELS)),
                ids=lambda m: m[0].stem + (f"@{m[1]}" if m[1] else ""))
def detector(request):
    model, size = request.param
    return Detector(model, threads=1, input_size=size)


@pytest.fixture(scope="module")
def reference(detector):
    path = REFERENCE_DIR / f"{detector.version}.json"
    assert path.exists(), f"no reference for {detector.version}: run `python -m tests.make_reference`"
    ref = json.loads(path.read_text())
    assert ref["model_sha256"] == detector.card.sha256
    return ref["photos"]


def assert_same(found: list[dict], expected: list[dict]) -> None:
    """Every clearly-detected expected box has its own found box (one to one) within tolerance.

    Near the threshold a box may flip in or out, so only boxes clearly above the lowest
    score must match, and the counts may differ by a few.
    """
    strong = [e for e in expected if e["confidence"] > 0.05 + min(x["confidence"] for x in expected)]
    assert abs(len(found) - len(expected)) <= max(2, len(expected) // 50)
    fb = np.array([f["box"] for f in found]).reshape(-1, 4)
    used = np.zeros(len(found), bool)
    for e in sorted(strong, key=lambda x: -x["confidence"]):
        dist = np.abs(fb - np.array(e["box"])).max(1)
        dist[used] = np.inf  # a found box answers for one expected box only
        i = int(dist.argmin())
        assert dist[i] <= BOX_TOL, e
        used[i] = True
        assert abs(found[i]["confidence"] - e["confidence"]) <= SCORE_TOL + 1e-4, (found[i], e)
        assert found[i]["class"] == e["class"]


def test_reference_covers_real_detections(reference):
    # the sample shelves are full of products: a detector finding none is broken
    assert all(len(v) >= 20 for v in reference.values()), {k: len(v) for k, v in reference.items()}


def test_batch_1_matches_reference(detector, reference):
    for photo in SAMPLES:
        found = [d.to_dict() for d in detector.detect(photo.read_bytes())]
        assert_same(found, reference[photo.name])


def test_batch_n_matches_batch_1(detector, reference):
    # every sample twice, so photos of one shape really share a model call of batch > 1
    paths = SAMPLES * 2
    photos = [p.read_bytes() for p in paths]
    one_by_one = detector.detect_many(photos, batch=1)
    batched = detector.detect_many(photos, batch=len(paths))
    for path, single, found in zip(paths, one_by_one, batched, strict=True):
        assert not isinstance(single, Exception)
        assert not isinstance(found, Exception)
        assert_same([d.to_dict() for d in found], [d.to_dict() for d in single])
        assert_same([d.to_dict() for d in found], reference[path.name])
