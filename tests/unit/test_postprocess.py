"""Post-processing: a box nested inside a higher-scored one is a second count of a product."""

from __future__ import annotations

import dataclasses

import numpy as np

from shared.detector import Detection, Detector, nested_in_higher
from shared.imaging import Decoded
from tests.paths import ROOT

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


V11 = ROOT / "models" / "shelfwatch-v11-int8.onnx"  # its card turns the close-up rule on
ZOOM = {"median_side": 70, "factor": 0.8}


def close_up_photo() -> bytes:
    import cv2

    from training import synth

    img = synth.shelf(11, 1_000_048, 640, 1)[0]  # fixed val photo 48: 17 large products
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def test_a_close_up_runs_again_smaller_and_a_dense_shelf_does_not():
    close_up, dense = close_up_photo(), (ROOT / "samples" / "shelf-4.jpg").read_bytes()
    zoomed = Detector(V11)
    assert zoomed.card.zoom_out == ZOOM
    plain = Detector(V11)
    plain.card = dataclasses.replace(plain.card, zoom_out=None)
    at_512 = Detector(V11, input_size=512)
    at_512.card = dataclasses.replace(at_512.card, zoom_out=None)
    # the close-up: the rule picks 512 (0.8 x 640) and serves exactly what 512 finds
    tensor, meta = plain.preprocess(close_up)
    assert zoomed.zoom_size(plain.postprocess(plain.predict(tensor[None])[0], meta), meta) == 512
    assert [d.box for d in zoomed.detect(close_up)] == [d.box for d in at_512.detect(close_up)]
    # ... which counts it better than 640 did (17 products: 18 found at 640, 17 at 512)
    assert abs(len(zoomed.detect(close_up)) - 17) < abs(len(plain.detect(close_up)) - 17)
    # a dense shelf of small products is left alone
    tensor, meta = plain.preprocess(dense)
    assert zoomed.zoom_size(plain.postprocess(plain.predict(tensor[None])[0], meta), meta) is None
    assert [d.box for d in zoomed.detect(dense)] == [d.box for d in plain.detect(dense)]


def test_the_close_up_decision_uses_the_cards_threshold_not_the_callers():
    close_up = close_up_photo()
    served, low = Detector(V11), Detector(V11, conf_threshold=0.001)  # evaluation runs at 0.001
    kept = {d.box for d in low.detect(close_up) if d.confidence >= served.conf}
    assert kept == {d.box for d in served.detect(close_up)}


def test_the_rule_rounds_to_the_stride_and_is_off_for_older_cards():
    big = [Detection(0, "product", 0.9, (0.0, 0.0, 200.0, 200.0))]
    decoded = Decoded(np.zeros((1, 1, 3), np.uint8), 1000, 1000, 1.0)
    assert Detector(MODEL).zoom_size(big, (decoded, 1.0, 0, 0)) is None  # v1's card predates it
    det = Detector(V11, input_size=512)
    assert det.zoom_size(big, (decoded, 1.0, 0, 0)) == 416  # 0.8 x 512 = 409.6 -> a multiple of 32
    assert det.zoom_size(big, (decoded, 0.3, 0, 0)) is None  # 60 input pixels: not a close-up
    unsure = [Detection(0, "product", 0.1, big[0].box)]
    assert det.zoom_size(unsure, (decoded, 1.0, 0, 0)) is None  # below the card's threshold: not counted


def test_a_box_in_the_letterbox_padding_is_dropped():
    # a 100 x 50 photo letterboxed into 64 x 64 at r = 0.64: 16 px of padding above and below it
    det = Detector(MODEL)
    decoded = Decoded(np.zeros((50, 100, 3), np.uint8), 100, 50, 1.0)
    meta = (decoded, 0.64, 0, 16)
    raw = np.zeros((4 + len(det.classes), 3), np.float32)
    raw[:4, 0] = (20, 32, 10, 20)   # centre x, y, w, h in input pixels: on the photo
    raw[:4, 1] = (50, 6, 10, 8)     # wholly in the top padding (y 2..10): clips to zero height
    raw[:4, 2] = (40, 32, 10, 20)   # a second product, away from the first
    raw[4, :] = 0.9
    found = det.postprocess(raw, meta)
    assert len(found) == 2
    for d in found:
        x1, y1, x2, y2 = d.box
        assert x2 - x1 >= 0.5
        assert y2 - y1 >= 0.5
    assert sorted(round(d.box[0]) for d in found) == [23, 55]  # (20 - 5) / 0.64, (40 - 5) / 0.64
