"""Tiled inference's geometry and merge (training/tiling.py): tiles cover the photo with the
overlap asked, and a product found whole twice is one box."""

from __future__ import annotations

import numpy as np

from tests.paths import ROOT
from training import tiling


def test_tiles_cover_the_photo_and_overlap_as_asked():
    windows = tiling.tiles(1200, 1600, grid=2, overlap=0.25)
    assert len(windows) == 4
    covered = np.zeros((1600, 1200), bool)
    for x1, y1, x2, y2 in windows:
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    (ax1, _, ax2, _), (bx1, _, bx2, _) = windows[0], windows[1]
    assert abs((ax2 - bx1) / (ax2 - ax1) - 0.25) < 0.01
    assert bx2 == 1200


def test_the_same_product_from_two_tiles_is_one_box():
    from shared.detector import Detector

    det = Detector(ROOT / "models" / "shelfwatch-v1-int8.onnx", threads=1)
    boxes = np.array([[100, 100, 160, 220], [101, 99, 161, 221], [300, 100, 360, 220]], np.float32)
    conf = np.array([0.9, 0.6, 0.8], np.float32)
    kept, kept_conf = tiling.merge(boxes, conf, det)
    assert len(kept) == 2
    assert sorted(kept_conf.tolist()) == [np.float32(0.8), np.float32(0.9)]
