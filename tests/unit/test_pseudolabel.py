"""Self-training labels: confident boxes become labels, unsure ones are masked out."""

from __future__ import annotations

import cv2
import numpy as np

from tests.paths import ROOT
from training.pseudolabel import GREY, mask_unsure, pseudo_label

MODEL = ROOT / "models" / "shelfwatch-v1-int8.onnx"
PHOTO = ROOT / "samples" / "shelf-1.jpg"


def test_unsure_boxes_are_grey_and_sure_boxes_keep_their_pixels():
    img = np.random.default_rng(0).integers(0, 255, (100, 100, 3), dtype=np.uint8)
    out = mask_unsure(img, sure=[(40, 40, 60, 60)], unsure=[(0, 0, 50, 50), (80, 80, 90, 90)])
    assert (out[0:40, 0:40] == GREY).all()
    assert (out[80:90, 80:90] == GREY).all()
    assert (out[40:60, 40:60] == img[40:60, 40:60]).all()  # the overlap stays a product
    assert (out[60:80, 0:80] == img[60:80, 0:80]).all()     # elsewhere untouched
    assert (img != GREY).any()                               # the input is not modified


def test_pseudo_labels_are_the_confident_detections(tmp_path):
    plain = pseudo_label(MODEL, [PHOTO], tmp_path / "plain", conf=0.4)
    masked = pseudo_label(MODEL, [PHOTO], tmp_path / "masked", conf=0.4, ignore_below=0.1)
    rows = (tmp_path / "plain" / "labels" / "train" / "shelf-1.txt").read_text().splitlines()
    assert rows
    assert rows == (tmp_path / "masked" / "labels" / "train" / "shelf-1.txt").read_text().splitlines()
    for row in rows:
        cls, *xywh = row.split()
        assert cls == "0"
        assert all(0 <= float(v) <= 1 for v in xywh)
    assert (plain / "shelf-1.jpg").is_symlink()  # the real photo is linked, never copied
    copy = cv2.imread(str(masked / "shelf-1.jpg"))
    original = cv2.imread(str(PHOTO))
    assert copy is not None
    assert original is not None
    assert copy.shape == original.shape
    # something unsure was painted out, and most of the photo is still the photo
    grey = (np.abs(copy.astype(int) - GREY) <= 3).all(axis=2).mean()
    assert 0 < grey < 0.5


def test_a_confident_box_round_a_stack_is_painted_out_not_taught():
    from shared.detector import Detection
    from training.pseudolabel import sort_out

    rng = np.random.default_rng(0)
    img = np.full((200, 300, 3), 90, np.uint8)
    packs = np.kron(rng.integers(0, 255, (5, 6, 3), dtype=np.uint8), np.ones((8, 10, 1), np.uint8))  # 40x60
    img[20:140, 20:80] = np.vstack([packs] * 3)                          # three identical packs, one box
    img[20:140, 120:180] = np.kron(rng.integers(0, 255, (10, 6, 3), dtype=np.uint8), np.ones((12, 10, 1), np.uint8))
    stack, single, faint = (20, 20, 80, 140), (120, 20, 180, 140), (200, 20, 260, 140)
    found = [Detection(0, "product", c, b) for c, b in ((0.9, stack), (0.9, single), (0.15, faint))]
    assert sort_out(found, img, conf=0.3, mask_stacks=False) == ([stack, single], [faint])
    assert sort_out(found, img, conf=0.3, mask_stacks=True) == ([single], [stack, faint])
