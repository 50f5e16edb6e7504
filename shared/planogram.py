"""Planogram compliance: a section's expected layout against what an audit found.

A planogram lists the section's shelf rows from the top, each with its expected facings
(``{"rows": [{"facings": 12}, {"facings": 9}], "gaps_allowed": false}``). A row may also
name products: ``{"facings": 12, "products": [{"name": "cola-1l", "facings": 6,
"appearance": …}]}``, where ``appearance`` is the descriptor of a reference crop (one
facing boxed on an audited photo, ``shared.analytics.appearance_of``). An audit's rows come
from the shelf analytics of its photos (row *i* of every photo counts for row *i*: photos
of one section are taken side by side); a product group of a photo is a named product
when its appearance correlates with the product's reference (``analytics.similarity``; the
best-matching product wins).

Deviations: ``missing_facings`` and ``extra_facings`` per row, and per named product in
its row; ``wrong_row`` (a named product's facings found in another row than planned);
``missing_row`` (expected, not found), ``unexpected_row`` (found, not expected) and
``unexpected_gap`` (a gap where the planogram expects none). The score is 1 - (facings
off) / (facings expected), never below 0, where a named product's facings off its plan in
its row count beside the row totals' (facings in the wrong row are missing from the right
one).
"""

from __future__ import annotations

from shared import analytics


def _named(planogram: dict) -> list[tuple[int, dict]]:
    """(planned row, product) for each named product with an appearance to match."""
    return [(i, p) for i, row in enumerate(planogram.get("rows", [])) for p in row.get("products") or []
            if p.get("appearance")]


def _product_facings(planogram: dict, photos: list[dict]) -> dict[str, dict[int, int]]:
    """Per named product, its facings found in each row (best-matching reference wins)."""
    named = _named(planogram)
    refs = [(p["name"], analytics.decode_appearance(p["appearance"])) for _, p in named]
    found: dict[str, dict[int, int]] = {name: {} for name, _ in refs}
    for analysis in photos:
        for group in analysis.get("groups", []):
            if not group.get("appearance"):
                continue
            look = analytics.decode_appearance(group["appearance"])
            scores = [(analytics.similarity(look, ref), name) for name, ref in refs]
            best = max(scores, default=(0.0, ""))
            if best[1] and best[0] >= analytics.SIMILAR:
                rows = found[best[1]]
                rows[group["row"]] = rows.get(group["row"], 0) + group["facings"]
    return found


def compliance(planogram: dict, photos: list[dict]) -> dict:
    """``photos``: each photo's analytics (rows, groups and gaps), in photo order."""
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
    total = sum(expected)
    by_product = _product_facings(planogram, photos)
    for row, product in _named(planogram):
        name, want = product["name"], int(product["facings"])
        where = by_product[name]
        have = where.get(row, 0)
        total += want
        if have != want:
            kind = "missing_facings" if have < want else "extra_facings"
            deviations.append({"kind": kind, "row": row, "product": name, "expected": want, "found": have})
            off += abs(have - want)
        for other in sorted(set(where) - {row}):
            deviations.append({"kind": "wrong_row", "row": other, "product": name, "expected_row": row,
                               "found": where[other]})
    if not planogram.get("gaps_allowed", False):
        for p, analysis in enumerate(photos):
            for gap in analysis.get("gaps", []):
                deviations.append({"kind": "unexpected_gap", "row": gap["row"], "photo": p, "box": gap["box"],
                                   "missing": gap["missing"]})
    score = max(0.0, 1.0 - off / total) if total else (1.0 if not found else 0.0)
    return {"score": round(score, 4), "deviations": deviations}
