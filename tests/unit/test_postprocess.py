"""Post-processing: a box nested inside a higher-scored one is a second count of a product."""

from __future__ import annotations

import dataclasses

import numpy as np

from shared.detector import Detector, nested_in_higher
from shared.settings import ROOT

MODEL = ROOT / "models" / "shelfwatch-v1-int8.onnx"


def xywh(*boxes):
    return np.array([[x1, y1, x2 - x1, y2 - y1] for x1, y1, x2, y2 in boxes], np.float32)


def test_a_narrow_box_inside_a_product_is_dropped_neighbours_stay():
    boxes = xywh((0, 0, 40, 100),     # a product, best score
                 (45, 0, 85, 100),    # its neighbour
                 (5, 10, 20, 95),     # a half of the first product: IoU 0.32, inside 100 %
                 (38, 0, 50, 100))    # straddles the gap: 2/12 inside the first, 5/12 inside the second
    assert nested_in_higher(boxes, 0.85).tolist() == [False, False, True, False]


def test_only_a_higher_scored_box_suppresses():
    # a lower-scored box around a higher-scored one is not nested in it: both stay
    boxes = xywh((5, 10, 20, 95), (0, 0, 40, 100))
    assert nested_in_higher(boxes, 0.85).tolist() == [False, False]


def test_a_suppressed_box_suppresses_nothing():
    # B is nested in A; C is nested in B but only 60 % inside A: C stays, as greedy NMS would keep it
    a, b, c = (0, 0, 100, 100), (50, 0, 130, 100), (80, 0, 130, 100)
    assert nested_in_higher(xywh(a, b, c), 0.6).tolist() == [False, True, False]


def test_keep_layers_keeps_a_stacks_packs_but_not_a_products_half():
    stack = (0, 0, 60, 90)             # the model's box round a stack of three packs, best score
    packs = [(1, 0, 60, 31), (0, 30, 59, 61), (2, 59, 60, 90)]   # each a full-width band of it
    half = (5, 2, 30, 88)              # a narrow box on one half of the stack: a slice, not a layer
    boxes = xywh(stack, *packs, half)
    assert nested_in_higher(boxes, 0.85).tolist() == [False, True, True, True, True]
    assert nested_in_higher(boxes, 0.85, keep_layers=True).tolist() == [False, False, False, False, True]


def test_keep_layers_needs_a_band_not_the_whole_box():
    # nearly the container's height: a duplicate of the whole product, not a layer of it
    boxes = xywh((0, 0, 40, 100), (1, 2, 39, 98))
    assert nested_in_higher(boxes, 0.85, keep_layers=True).tolist() == [False, True]
    # a short box at 60 % of the width (a label on one pack) is not a layer either
    boxes = xywh((0, 0, 50, 100), (10, 40, 40, 60))
    assert nested_in_higher(boxes, 0.85, keep_layers=True).tolist() == [False, True]


def test_the_card_switches_it_on(tmp_path):
    photo = (ROOT / "samples" / "shelf-4.jpg").read_bytes()
    det = Detector(MODEL, conf_threshold=0.05)
    plain = det.detect(photo)
    det.card = dataclasses.replace(det.card, contain_threshold=0.85)
    nested = det.detect(photo)
    assert det.card.raw.get("contain_threshold") is None  # v1's card predates it: off by default
    assert det.card.keep_layers is False  # likewise
    assert 0 < len(nested) < len(plain)
    kept = {d.box for d in nested}
    assert kept <= {d.box for d in plain}  # it only removes
    for gone in (d for d in plain if d.box not in kept):  # each removed box sits inside a kept, better one
        x1, y1, x2, y2 = gone.box
        inside = [max(0, min(x2, k.box[2]) - max(x1, k.box[0])) * max(0, min(y2, k.box[3]) - max(y1, k.box[1]))
                  / ((x2 - x1) * (y2 - y1)) for k in nested if k.confidence >= gone.confidence]
        assert max(inside) >= 0.8  # 0.85 in the model's own pixels; clipping to the photo moves it a little
