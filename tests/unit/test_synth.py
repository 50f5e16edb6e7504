"""The synthetic shelf generator: reproducible, dense, boxes inside the photo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from training.camera_effects import perspective
from training.synth import generate, shelf


def test_same_seed_same_photo():
    a, ba = shelf(3, 7, 320)
    b, bb = shelf(3, 7, 320)
    assert np.array_equal(a, b)
    assert np.array_equal(ba, bb)
    c, _ = shelf(3, 8, 320)
    assert not np.array_equal(a.shape, c.shape) or not np.array_equal(a, c)


def test_boxes_are_valid_and_dense():
    counts = []
    for i in range(6):
        img, boxes = shelf(0, i, 320)
        h, w = img.shape[:2]
        assert (boxes[:, 0] >= 0).all()
        assert (boxes[:, 2] <= w).all()
        assert (boxes[:, 1] >= 0).all()
        assert (boxes[:, 3] <= h).all()
        assert (boxes[:, 2] > boxes[:, 0]).all()
        assert (boxes[:, 3] > boxes[:, 1]).all()
        counts.append(len(boxes))
    assert np.mean(counts) > 30  # shelves are packed, as real ones are


def test_perspective_never_mirrors_the_canvas():
    # generator 1 filled the frame's edges by reflection: mirrored products with no label.
    # On a left-to-right ramp, a reflected edge shows as the ramp running backwards.
    h, w = 200, 300
    ramp = np.tile(np.linspace(0, 255, w, dtype=np.float32), (h, 1))
    img = np.dstack([ramp] * 3).astype(np.uint8)
    for i in range(20):
        out, _ = perspective(img, [], np.random.default_rng(i), strength=0.2)
        steps = np.diff(out[:, :, 0].astype(int), axis=1)
        assert (steps >= -1).all(), f"seed {i}: the warped ramp runs backwards somewhere"


def test_warped_boxes_stay_on_their_products():
    # a box's content must move with it: paint a square, warp, and find it in its box
    img = np.zeros((200, 300, 3), np.uint8)
    img[80:120, 130:170] = 255
    for i in range(10):
        out, boxes = perspective(img, [[130, 80, 170, 120]], np.random.default_rng(i), strength=0.2)
        (x0, y0, x1, y1), = boxes
        inside = out[int(y0) + 2 : int(y1) - 2, int(x0) + 2 : int(x1) - 2, 0]
        assert inside.mean() > 200
        assert (out[:, :, 0] > 128).sum() <= 1.1 * (x1 - x0) * (y1 - y0)


def test_real_faces_are_printed_where_the_labels_are():
    with pytest.raises(ValueError, match="real product faces"):
        generate(Path("/nonexistent"), 1, 0, style=3)
    magenta = np.zeros((60, 40, 3), np.uint8)
    magenta[:] = (255, 0, 255)  # BGR: a colour no procedural part of the shelf is made of
    img, boxes = shelf(5, 0, 480, style=3, faces=[magenta])
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    is_face = ((np.abs(hsv[:, :, 0].astype(int) - 150) < 12) & (hsv[:, :, 1] > 120)).astype(np.uint8)
    in_boxes = np.zeros_like(is_face)
    for x0, y0, x1, y1 in boxes.astype(int):
        in_boxes[y0:y1, x0:x1] = 1
    assert len(boxes) > 30
    assert is_face[in_boxes == 1].mean() > 0.5       # the boxes are mostly the printed faces
    assert is_face[in_boxes == 0].mean() < 0.05      # and no face stands unlabelled


def test_style_3_stacks_and_closes_in_at_real_densities():
    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 255, (int(rng.integers(40, 120)), int(rng.integers(20, 100)), 3), dtype=np.uint8)
             for _ in range(50)]
    counts, small, big = [], [], []
    for i in range(24):
        img, boxes = shelf(9, i, 480, style=3, faces=faces)
        h, w = img.shape[:2]
        whole = (boxes[:, 0] > 0) & (boxes[:, 1] > 0) & (boxes[:, 2] < w) & (boxes[:, 3] < h)  # not cut by the frame
        heights = (boxes[whole, 3] - boxes[whole, 1]) / h
        counts.append(len(boxes))
        small.append(np.percentile(heights, 5))
        big.append(heights.max())
    assert 60 <= np.median(counts) <= 260           # SKU-110K: ~147 products per photo
    assert min(small) > 1 / 45                      # stacked layers stay visible products
    assert max(big) > 0.25                           # and some are close-ups (style 2 stays under ~0.21)


def stacked_share(boxes: np.ndarray) -> float:
    """Share of products with another product standing right on top of them (a layer above)."""
    x0, y0, x1, y1 = (boxes[:, i][:, None] for i in range(4))
    overlap_x = np.minimum(x1, x1.T) - np.maximum(x0, x0.T)
    on_top = (np.abs(y0 - y1.T) <= 2) & (overlap_x > 0.5 * (x1 - x0))  # [i, j]: j's bottom is i's top
    return float(on_top.any(1).mean())


def test_style_4_stacks_most_rows_at_real_densities():
    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 255, (int(rng.integers(40, 120)), int(rng.integers(20, 100)), 3), dtype=np.uint8)
             for _ in range(50)]
    share: dict[int, list[float]] = {3: [], 4: []}
    counts = []
    for i in range(16):
        for style in (3, 4):
            img, boxes = shelf(9, i, 480, style=style, faces=faces)
            share[style].append(stacked_share(boxes))
            if style == 4:
                counts.append(len(boxes))
                h, w = img.shape[:2]
                whole = (boxes[:, 0] > 0) & (boxes[:, 1] > 0) & (boxes[:, 2] < w) & (boxes[:, 3] < h)
                assert np.percentile((boxes[whole, 3] - boxes[whole, 1]) / h, 5) > 1 / 50  # layers stay visible
    assert np.mean(share[4]) > 1.5 * np.mean(share[3])
    assert np.mean(share[4]) > 0.3
    assert 60 <= np.median(counts) <= 300  # denser than style 3, but a shelf, not a swarm


def test_a_set_holds_exactly_the_photos_asked_for(tmp_path):
    generate(tmp_path, 3, 1, seed=4, size=160)
    generate(tmp_path, 2, 1, seed=4, size=160)  # a config asking for fewer: the trainer reads the whole folder
    assert sorted(p.name for p in (tmp_path / "images" / "train").iterdir()) == ["train_00000.jpg", "train_00001.jpg"]
    assert len(list((tmp_path / "labels" / "train").iterdir())) == 2
