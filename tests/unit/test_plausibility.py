"""``shared.plausibility``: shelf-like and noise-like detections built here (no photos; one test reads cards)."""

from __future__ import annotations

import numpy as np
import pytest

from shared.detector import Detection
from shared.plausibility import (
    CONFIDENT,
    MAX_CONFIDENT_SHARE,
    MAX_SIDE_BY_SIDE,
    MIN_DETECTIONS,
    limits_of,
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


def unsure_scattered_shelf() -> list[Detection]:
    """A wide aisle shot a less confident model reads: 8 % of its boxes at 0.4 or more, half of them side by side."""
    found = [det(d.box, 0.45 if i % 12 == 0 else 0.2) for i, d in enumerate(noise(n=150, seed=3))]
    row = shelf(rows=1, facings=100, confidences=(0.2,))[:100]
    return found + row


def test_a_card_s_limits_replace_the_defaults_it_names():
    found = unsure_scattered_shelf()
    t = traits(found)
    assert 0.04 < t.confident_share < MAX_CONFIDENT_SHARE  # below v11's limit, above v14's
    assert t.side_by_side < MAX_SIDE_BY_SIDE
    assert not_a_shelf(found) is not None  # the defaults, measured on v11, would call it noise
    assert not_a_shelf(found, {"max_confident_share": 0.04}) is None  # v14's card: a shelf
    assert not_a_shelf(noise(), {"max_confident_share": 0.04}) is not None  # noise is still noise
    assert limits_of({"max_confident_share": 0.04}) == (CONFIDENT, 0.04, MAX_SIDE_BY_SIDE)


def test_a_card_s_confidence_level_moves_the_share_and_the_reason():
    found = noise()  # confidences 0.25-0.36
    assert traits(found, confident=0.3).confident_share > 0.3
    assert not_a_shelf(found, {"confident": 0.3}) is None
    assert "at confidence ≥ 0.2" in (not_a_shelf(found, {"confident": 0.2, "max_confident_share": 1.01}) or "")


def test_an_unknown_limit_is_refused_not_ignored():
    with pytest.raises(ValueError, match="unknown limits"):
        not_a_shelf(shelf(), {"max_confident": 0.1})


def test_the_served_cards_limits_are_readable():
    from shared.detector import ModelCard
    from shared.registry import load
    from tests.paths import MODELS

    for spec in load(MODELS)["modes"].values():  # each at the size it serves, as the worker reads them
        card = ModelCard.load(MODELS / spec["model"])
        limits_of(card.shelf_check_at(spec.get("input_size") or card.input_size))  # raises on a misspelt limit
    v15 = ModelCard.from_raw(load(MODELS)["versions"]["shelfwatch-v15-int8"]["card"])  # out of the tree since v22
    assert limits_of(v15.shelf_check_at(1024))[1] == 0.12  # measured at each size it serves
    assert limits_of(v15.shelf_check_at(640))[1] == 0.015
