"""Planogram compliance on a known case: pure logic."""

from __future__ import annotations

import cv2
import numpy as np

from shared import analytics
from shared.planogram import compliance


def photo(rows: list[int], gaps: list[int] | None = None) -> dict:
    return {"rows": [{"index": i, "facings": n} for i, n in enumerate(rows)],
            "gaps": [{"row": r, "box": [0, 0, 1, 1], "missing": 2} for r in gaps or []]}


def test_a_shelf_as_planned_scores_one():
    assert compliance({"rows": [{"facings": 10}, {"facings": 8}]}, [photo([10, 8])]) == {"score": 1.0,
                                                                                       "deviations": []}


def test_missing_extra_and_rows_are_deviations():
    result = compliance({"rows": [{"facings": 10}, {"facings": 8}, {"facings": 6}]}, [photo([7, 9])])
    kinds = [(d["kind"], d["row"]) for d in result["deviations"]]
    assert kinds == [("missing_facings", 0), ("extra_facings", 1), ("missing_row", 2)]
    assert result["score"] == round(1 - (3 + 1 + 6) / 24, 4)


def test_two_photos_of_one_section_add_up_row_by_row():
    result = compliance({"rows": [{"facings": 10}]}, [photo([4]), photo([6])])
    assert result["score"] == 1.0


def test_gaps_are_deviations_unless_allowed():
    plan = {"rows": [{"facings": 5}]}
    assert [d["kind"] for d in compliance(plan, [photo([5], gaps=[0])])["deviations"]] == ["unexpected_gap"]
    assert compliance({**plan, "gaps_allowed": True}, [photo([5], gaps=[0])])["deviations"] == []


def test_an_unexpected_row_counts_against_the_score():
    result = compliance({"rows": [{"facings": 4}]}, [photo([4, 3])])
    assert result["deviations"] == [{"kind": "unexpected_row", "row": 1, "expected": 0, "found": 3}]
    assert result["score"] == 0.25


def _looks(hue: int) -> str:
    """The appearance of a facing of one flat colour (an HSV hue), as the analytics store it."""
    image = np.zeros((20, 20, 3), np.uint8)
    image[:] = (hue, 200, 200)
    look = analytics.appearance_of(cv2.cvtColor(image, cv2.COLOR_HSV2BGR), [0, 0, 20, 20])
    assert look is not None
    return look


def test_named_products_are_found_by_appearance_and_in_the_wrong_row():
    red, blue, green = _looks(0), _looks(120), _looks(60)
    audit = {"rows": [{"index": 0, "facings": 6}, {"index": 1, "facings": 5}],
             "groups": [{"row": 0, "facings": 4, "appearance": red},
                        {"row": 0, "facings": 2, "appearance": green},  # a product the planogram does not name
                        {"row": 1, "facings": 3, "appearance": blue},  # planned in row 0, found in row 1
                        {"row": 1, "facings": 2, "appearance": None}],  # no pixels: matches nothing
             "gaps": []}
    plan = {"rows": [{"facings": 6, "products": [{"name": "cola", "facings": 4, "appearance": red},
                                                 {"name": "soap", "facings": 2, "appearance": blue}]},
                     {"facings": 5}]}
    result = compliance(plan, [audit])
    assert result["deviations"] == [
        {"kind": "missing_facings", "row": 0, "product": "soap", "expected": 2, "found": 0},
        {"kind": "wrong_row", "row": 1, "product": "soap", "expected_row": 0, "found": 3},
    ]
    assert result["score"] == round(1 - 2 / (6 + 5 + 4 + 2), 4)
    # the same audit against a plan naming only what is where it should be: nothing off
    assert compliance({"rows": [{"facings": 6, "products": [{"name": "cola", "facings": 4, "appearance": red}]},
                                {"facings": 5}]}, [audit]) == {"score": 1.0, "deviations": []}
