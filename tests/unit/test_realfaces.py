"""The bank of real product faces: clear detections only, cut from the photo, resumable."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from tests.paths import ROOT
from training.realfaces import BANK_SIDE, build_bank, clear_boxes, load_bank

MODEL = ROOT / "models" / "shelfwatch-v1-int8.onnx"  # the model the tests pin


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    assert img is not None, f"{path} does not decode"
    return img


def test_only_clear_boxes_are_cut():
    boxes = np.array([
        [100, 100, 140, 200],   # a product: kept
        [0, 100, 40, 200],      # touches the photo's left edge: maybe cut, dropped
        [300, 100, 305, 200],   # 5 px wide: dropped
        [400, 100, 700, 120],   # 15:1, a shelf edge more than a product: dropped
        [200, 100, 260, 200],   # these two overlap by half: a merged pair, both dropped
        [230, 100, 290, 200],
    ], np.float32)
    assert clear_boxes(boxes, 1000, 800).tolist() == [[100, 100, 140, 200]]
    assert clear_boxes(np.zeros((0, 4), np.float32), 10, 10).shape == (0, 4)


def test_bank_is_cut_from_the_photos_and_resumes(tmp_path):
    photos = sorted((ROOT / "samples").glob("*.jpg"))[:2]
    bank = build_bank(MODEL, photos, tmp_path / "bank", conf=0.5)
    crops = sorted(bank.glob("*.jpg"))
    assert len(crops) > 20
    assert {c.name.split("_")[0] for c in crops} == {"shelf-1", "shelf-2"}
    assert all((bank / f"{p.stem}.done").exists() for p in photos)
    before = {c: c.stat().st_mtime_ns for c in crops}
    build_bank(MODEL, photos, bank, conf=0.5)  # a second run finds every photo done
    assert {c: c.stat().st_mtime_ns for c in sorted(bank.glob("*.jpg"))} == before
    faces = load_bank(bank)
    assert len(faces) == len(crops)
    assert all(max(f.shape[:2]) <= BANK_SIDE and f.ndim == 3 for f in faces)


def test_stacks_are_left_out_of_the_bank_when_asked(tmp_path):
    from training.stacks import looks_stacked

    photos = sorted((ROOT / "samples").glob("*.jpg"))
    every = sorted(build_bank(MODEL, photos, tmp_path / "all", conf=0.5).glob("*.jpg"))
    clean = build_bank(MODEL, photos, tmp_path / "clean", conf=0.5, drop_stacks=True)
    kept = Counter(digest(c) for c in clean.glob("*.jpg"))
    assert not kept - Counter(digest(c) for c in every)  # the same crops, byte for byte, less some
    dropped = [c for c in every if digest(c) not in kept]
    assert dropped, "the samples hold stacked packs the model boxes as one: the check needs one"
    assert all(looks_stacked(read(c)) for c in dropped)  # what was left out is stacks
    # and the stacks were left out; a crop judged again after JPEG compression may flip at the threshold
    assert sum(looks_stacked(read(c)) for c in clean.glob("*.jpg")) <= max(1, len(dropped) // 10)
    assert len(load_bank(clean)) == len(every) - len(dropped)
    assert "stacks left out" in next(clean.glob("*.done")).read_text()
