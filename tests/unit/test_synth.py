"""The synthetic shelf generator: reproducible, dense, boxes inside the photo."""

from __future__ import annotations

import numpy as np

from training.synth import shelf


def test_same_seed_same_photo():
    a, ba = shelf(3, 7, 320)
    b, bb = shelf(3, 7, 320)
    assert np.array_equal(a, b) and np.array_equal(ba, bb)
    c, _ = shelf(3, 8, 320)
    assert not np.array_equal(a.shape, c.shape) or not np.array_equal(a, c)


def test_boxes_are_valid_and_dense():
    counts = []
    for i in range(6):
        img, boxes = shelf(0, i, 320)
        h, w = img.shape[:2]
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= w).all()
        assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= h).all()
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        counts.append(len(boxes))
    assert np.mean(counts) > 30  # shelves are packed, as real ones are
