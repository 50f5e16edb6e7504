"""Planogram compliance: a section's expected layout against what an audit found.

A planogram lists the section's shelf rows from the top, each with its expected facings
(``{"rows": [{"facings": 12}, {"facings": 9}], "gaps_allowed": false}``). An audit's rows
come from the shelf analytics of its photos (row *i* of every photo counts for row *i*:
photos of one section are taken side by side). Deviations: ``missing_facings`` and
``extra_facings`` per row, ``missing_row`` (expected, not found), ``unexpected_row``
(found, not expected) and ``unexpected_gap`` (a gap where the planogram expects none).
The score is 1 - (facings off) / (facings expected), never below 0.
"""

from __future__ import annotations


def compliance(planogram: dict, photos: list[dict]) -> dict:
    """``photos``: each photo's analytics (rows and gaps), in photo order."""
    found: dict[int, int] = {}
    for analysis in photos:
        for row in analysis.get("rows", []):
            found[row["index"]] = found.get(row["index"], 0) + row["facings"]
    expected = [int(r["facings"]) for r in planogram.get("rows", [])]
    deviations: list[dict] = []
    off = 0
    for i, want in enumerate(expected):
        have = found.get(i)
        if have is None:
            deviations.append({"kind": "missing_row", "row": i, "expected": want, "found": 0})
            off += want
        elif have != want:
            kind = "missing_facings" if have < want else "extra_facings"
            deviations.append({"kind": kind, "row": i, "expected": want, "found": have})
            off += abs(have - want)
    for i in sorted(set(found) - set(range(len(expected)))):
        deviations.append({"kind": "unexpected_row", "row": i, "expected": 0, "found": found[i]})
        off += found[i]
    if not planogram.get("gaps_allowed", False):
        for p, analysis in enumerate(photos):
            for gap in analysis.get("gaps", []):
                deviations.append({"kind": "unexpected_gap", "row": gap["row"], "photo": p, "box": gap["box"],
                                   "missing": gap["missing"]})
    total = sum(expected)
    score = max(0.0, 1.0 - off / total) if total else (1.0 if not found else 0.0)
    return {"score": round(score, 4), "deviations": deviations}
