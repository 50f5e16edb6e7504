"""Planogram compliance on a known case: pure logic."""

from __future__ import annotations

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
