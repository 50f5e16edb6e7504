"""``shared.plausibility``: shelf-like and noise-like detections built here, no model, no photos."""

from __future__ import annotations

import numpy as np
import pytest

from shared.detector import Detection
from shared.plausibility import (
    CONFIDENT,
    MAX_CONFIDENT_SHARE,
    MAX_SIDE_BY_SIDE,
    MIN_DETECTIONS,
    not_a_shelf,
    side_by_side,
    traits,
)


def det(box: tuple[float, float, float, float], confidence: float) -> Detection:
    return Detection(0, "product", confidence, box)


def shelf(rows: int = 5, facings: int = 12, confidences: tuple[float, ...] = (0.8, 0.6, 0.35),
          w: float = 60, h: float = 120, gap: float = 4) -> list[Detection]:
    """Rows of facings side by side (a small gap between them), confidences cycling."""
    out = []
    for r in range(rows):
        top = 50 + r * (h + 40)
        for i in range(facings):
            x = 30 + i * (w + gap)
            out.append(det((x, top, x + w, top + h), confidences[(r * facings + i) % len(confidences)]))
    return out


def noise(n: int = 300, seed: int = 0, width: float = 1600, height: float = 1200) -> list[Detection]:
    """Boxes of one size range dropped anywhere, confidences hugging a 0.25 threshold (as on random noise)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        w, h = rng.uniform(30, 70), rng.uniform(40, 90)
        x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
        out.append(det((x, y, x + w, y + h), float(rng.uniform(0.25, 0.36))))
    return out


def test_a_shelf_passes():
    found = shelf()
    t = traits(found)
    assert t.side_by_side == 1.0
    assert t.confident_share == pytest.approx(2 / 3)
    assert not_a_shelf(found) is None


def test_scattered_unsure_boxes_are_flagged_with_a_reason():
    found = noise()
    t = traits(found)
    assert t.confident_share < MAX_CONFIDENT_SHARE
    assert t.side_by_side < MAX_SIDE_BY_SIDE
    reason = not_a_shelf(found)
    assert reason is not None
    assert reason.startswith("detections look like noise")
    assert "300 boxes" in reason
    assert "0% at confidence ≥ 0.4" in reason


def test_an_unsure_shelf_is_not_flagged():
    # a dim or blurred shelf: the model is unsure of every facing, but the facings stand side by side
    found = shelf(confidences=(0.3,))
    assert traits(found).confident_share == 0.0
    assert not_a_shelf(found) is None


def test_scattered_but_confident_boxes_are_not_flagged():
    found = [det(d.box, 0.7) for d in noise()]
    assert traits(found).side_by_side < MAX_SIDE_BY_SIDE
    assert not_a_shelf(found) is None


def test_no_detections_is_not_noise():
    # an empty shelf (or a blank wall) reports no products: nothing to flag
    assert not_a_shelf([]) is None
    assert traits([]).detections == 0


def test_a_handful_of_detections_is_never_flagged():
    few = noise(n=MIN_DETECTIONS - 1)
    assert not_a_shelf(few) is None
    assert not_a_shelf(noise(n=MIN_DETECTIONS)) is not None  # the same kind of boxes, just enough of them


def test_the_confidence_threshold_is_inclusive():
    found = [det(d.box, CONFIDENT) for d in noise()]
    assert traits(found).confident_share == 1.0
    assert not_a_shelf(found) is None


def test_side_by_side_neighbours():
    boxes = np.array([
        [0, 0, 50, 100],       # 0: a facing
        [55, 10, 105, 110],    # 1: right of 0, a small gap, mostly level: beside 0
        [100, 0, 150, 100],    # 2: overlaps 1 by 5 px (a tenth of its width): beside 1
        [400, 0, 450, 100],    # 3: far right of everything
        [0, 300, 50, 400],     # 4: below 0, at another height
        [60, 360, 110, 460],   # 5: right of 4 but only 40 % level with it
    ], np.float32)
    assert side_by_side(boxes).tolist() == [True, True, True, False, False, False]


def test_side_by_side_of_nothing_and_of_one_box():
    assert side_by_side(np.zeros((0, 4))).tolist() == []
    assert side_by_side(np.array([[0, 0, 10, 10]])).tolist() == [False]


def test_input_is_not_changed_and_any_sequence_will_do():
    found = tuple(noise(n=80, seed=3))
    before = list(found)
    assert not_a_shelf(found) == not_a_shelf(list(found))
    assert list(found) == before
