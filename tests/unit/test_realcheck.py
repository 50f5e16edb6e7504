"""Real-photo checks without product boxes: row proxies and the hand-counted rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.paths import ROOT
from training.realcheck import HAND_COUNTS, hand_count_errors, row_proxies

HAND_COUNTS_FILE = ROOT / HAND_COUNTS  # HAND_COUNTS is relative to the repository root

HAND = {"rows": [
    {"photo": "a.jpg", "row": [0, 0, 100, 50], "products": 4, "confidence": "sure"},
    {"photo": "a.jpg", "row": [0, 50, 100, 100], "products": 5, "confidence": "rough"},
    {"photo": "b.jpg", "row": [0, 0, 100, 50], "products": 10, "confidence": "sure"},
]}


def box(cx, cy):
    return (cx - 5, cy - 5, cx + 5, cy + 5)


def test_a_product_counts_in_the_row_its_centre_lies_in():
    found = {"a.jpg": [box(10, 20), box(30, 20), box(50, 20), box(70, 20),   # 4 in the first row
                       box(10, 70), box(30, 70),                              # 2 in the second (5 counted)
                       box(150, 20)]}                                         # outside every row
    r = hand_count_errors(found, HAND)
    assert r is not None
    assert r["rows"] == 2  # b.jpg was not looked at: its row is left out, not counted as zero
    assert r["mean_row_error"] == pytest.approx((0 + 3 / 5) / 2, abs=1e-3)
    assert r["mean_row_error_sure_rows"] == 0
    assert r["photos"] == 1
    assert r["mean_photo_error"] == pytest.approx(3 / 9, abs=1e-3)  # 6 found of 9
    assert (r["found"], r["counted"], r["total_error"]) == (6, 9, pytest.approx(-0.333, abs=1e-3))
    assert hand_count_errors({"c.jpg": []}, HAND) is None


def test_row_proxies():
    rows = [(0, 0, 100, 50)]
    share_in, covered = row_proxies([box(50, 25), box(50, 80)], rows, 100, 100, grid=1)
    assert share_in == 0.5
    assert 0.015 < covered < 0.03


def test_the_committed_hand_counts_are_well_formed():
    doc = json.loads(HAND_COUNTS_FILE.read_text())
    assert len(doc["rows"]) == 46
    assert sum(r["products"] for r in doc["rows"]) == 952
    for r in doc["rows"]:
        x1, y1, x2, y2 = r["row"]
        assert 0 <= x1 < x2 <= 1600
        assert 0 <= y1 < y2 <= 1600
        assert r["products"] > 0
        assert r["confidence"] in ("sure", "rough")
        assert r["photo"].endswith(".jpg")
        assert r["set"] in (1, 2, 3)
    assert sum(r["set"] == 2 for r in doc["rows"]) == 16
    assert sum(r["set"] == 3 for r in doc["rows"]) == 14


def test_the_hand_counted_photos_are_no_training_photos():
    real = Settings().real_data_dir
    if real is None:
        pytest.skip("REAL_DATA_DIR is not set: the real photos' train.txt is not here to compare with")
    if not (real / "train.txt").exists():
        pytest.skip(f"no train.txt in REAL_DATA_DIR ({real})")
    doc = json.loads(HAND_COUNTS_FILE.read_text())
    train = {Path(line.strip()).name for line in (real / "train.txt").read_text().splitlines()}
    assert not train & {r["photo"] for r in doc["rows"]}  # counted on val photos only: no model trained on them


def test_each_set_of_hand_counts_is_scored_on_its_own():
    from training.realcheck import hand_count_errors_by_set

    doc = json.loads(HAND_COUNTS_FILE.read_text())
    first = next(r for r in doc["rows"] if r["set"] == 1)
    x1, y1, x2, y2 = first["row"]
    # exactly the counted number of products in that one row, nothing anywhere else
    found = {first["photo"]: [((x1 + x2) / 2 - 1, (y1 + y2) / 2 - 1, (x1 + x2) / 2 + 1, (y1 + y2) / 2 + 1)]
             * first["products"]}
    by_set = hand_count_errors_by_set(found, doc)
    rows_in_photo = [r for r in doc["rows"] if r["photo"] == first["photo"]]
    assert set(by_set) == {1, 2, 3}
    assert by_set[2] is None
    assert by_set[3] is None
    assert by_set[1] is not None
    assert by_set[1]["rows"] == len(rows_in_photo)
    assert by_set[1]["found"] == first["products"]
