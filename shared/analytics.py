"""Shelf analytics after detection: rows, facings, product groups, out-of-stock gaps.

Pure functions of the detections (and, for groups, the photo's pixels); the worker runs
``analyse`` after each photo's detection and stores the result beside the counts, so every
figure is tied to the model version that produced its boxes.

* **Rows** (``rows``): detections whose vertical spans overlap are one row (a graph of
  pairs overlapping by at least half the smaller box's height, joined into components),
  which follows a row down a perspective tilt one neighbour at a time; a box spanning two
  rows (a tall stack) joins the row where it overlaps most, so it cannot weld two rows
  together. Rows are numbered from the top.
* **Gaps** (``gaps``): an empty span within a row, or between a row's end and the shelf's
  extent (the widest rows' edges), wider than ``min_gap`` (inside) or ``end_gap`` (at an
  end) times the row's median facing width; each with its box, row, an estimate of the
  missing facings and a confidence that grows with the width; a row too low or too unsure
  (its boxes' median confidence under 0.6x the photo's) to judge has none. A detection that looks like
  the shelf's empty back (``looks_empty``: unsure and flat beside busy neighbours) does not
  fill a span: the detector sometimes boxes a dark empty slot.
* **Groups** (``groups``): facings of one product side by side look alike: neighbours in a
  row whose colour histograms (HSV, 8x4x4 bins) correlate above ``similar`` are one
  group; each group has an id in the photo (left to right, top to bottom), its facings,
  its share of the occupied shelf width and its ``appearance`` (the members' mean
  histogram as 172 characters), which a planogram's named products are matched against.
"""

from __future__ import annotations

import base64
import itertools
import statistics
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Gap:
    row: int
    box: Box
    missing: int  # facings that would fill it, at the row's median width
    confidence: float


def _overlap_y(a: np.ndarray, b: np.ndarray) -> float:
    inter = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, inter) / max(1e-6, min(a[3] - a[1], b[3] - b[1]))


def rows(boxes: np.ndarray, min_overlap: float = 0.8, min_facings: int = 3) -> list[int]:
    """Row index (0 = top) of each box; boxes (n, 4) as x1, y1, x2, y2.

    ``min_overlap`` 0.8 was chosen on the 232 real photos' labelled rows
    (``python -m training.analytics_eval``): 0.5 welds neighbouring levels of a tilted
    shelf into one row (recall 0.69), 0.9 splits levels (precision falls). A component of
    fewer than ``min_facings`` boxes (a stray detection, a price sign) joins the row it
    overlaps most, if any.
    """
    n = len(boxes)
    if n == 0:
        return []
    heights = boxes[:, 3] - boxes[:, 1]
    median_h = float(np.median(heights))
    # a box much taller than its neighbours (a whole stack, a tall bottle among packs)
    # joins a row later, by its best overlap, so it cannot bridge two rows
    tall = heights > 1.8 * median_h
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    order = np.argsort((boxes[:, 1] + boxes[:, 3]) / 2)
    regular = [int(i) for i in order if not tall[i]]
    reg = np.array(regular, dtype=int)
    top, bottom = boxes[reg, 1], boxes[reg, 3]
    centre = (top + bottom) / 2
    for k, i in enumerate(regular):
        # the boxes after this one (sorted by centre) up to the first that starts below it
        # with its centre a box height further down: none after that can overlap it
        below = top[k + 1:] > bottom[k]
        stop = np.flatnonzero(below & (centre[k + 1:] > bottom[k] + median_h))
        end = k + 1 + (int(stop[0]) if len(stop) else len(regular) - k - 1)
        near = np.arange(k + 1, end)[~below[: end - k - 1]]
        if not len(near):
            continue
        inter = np.maximum(0.0, np.minimum(bottom[k], bottom[near]) - np.maximum(top[k], top[near]))
        shared = inter / np.maximum(1e-6, np.minimum(bottom[k] - top[k], bottom[near] - top[near]))
        for j in reg[near[shared >= min_overlap]]:
            parent[find(int(j))] = find(i)
    for i in (int(i) for i in order if tall[i]):
        if not len(reg):
            continue
        b = boxes[reg]  # the tall box against every regular one at once
        inter = np.maximum(0.0, np.minimum(boxes[i, 3], b[:, 3]) - np.maximum(boxes[i, 1], b[:, 1]))
        overlap = inter / np.maximum(1e-6, np.minimum(boxes[i, 3] - boxes[i, 1], b[:, 3] - b[:, 1]))
        if overlap.max() > 0:  # the best overlap; of equals, the last in order
            parent[i] = find(int(reg[np.flatnonzero(overlap == overlap.max())].max()))
    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(find(i), []).append(i)
    def band(m: list[int]) -> np.ndarray:
        ys = boxes[np.array(m)]
        return np.array([0, ys[:, 1].min(), 0, ys[:, 3].max()], np.float32)

    big = [root for root, m in members.items() if len(m) >= min_facings]
    for m in [m for m in members.values() if len(m) < min_facings]:
        if big:
            nearest = max(big, key=lambda b: _overlap_y(band(m), band(members[b])))
            if _overlap_y(band(m), band(members[nearest])) > 0:
                for i in m:
                    parent[i] = nearest
    of_root: dict[int, list[int]] = {}
    for i in range(n):
        of_root.setdefault(find(i), []).append(i)
    centre = {r: float(np.mean([(boxes[i, 1] + boxes[i, 3]) / 2 for i in m])) for r, m in of_root.items()}
    rank = {r: k for k, r in enumerate(sorted(of_root, key=centre.__getitem__))}
    return [rank[find(i)] for i in range(n)]


def row_boxes(boxes: np.ndarray, row_of: list[int]) -> list[Box]:
    """Each row's extent (x1, y1, x2, y2), in row order."""
    out = []
    for r in range(max(row_of, default=-1) + 1):
        b = boxes[[i for i, k in enumerate(row_of) if k == r]]
        out.append((float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())))
    return out


def gaps(boxes: np.ndarray, row_of: list[int], min_gap: float = 0.8, end_gap: float = 1.5,
         shelf: tuple[float, float] | None = None, min_height: float = 0.6,
         empty: list[bool] | None = None, confidences: np.ndarray | None = None,
         unsure_row: float = 0.6, filled: float = 0.3) -> list[Gap]:
    """Empty spans in each row (and at its ends, within ``shelf``'s x extent).

    ``min_gap`` and ``end_gap`` (in facing widths) and ``min_height`` were chosen on 150
    synthetic shelves whose gaps the generator knows and checked on 150 others
    (``python -m training.analytics_eval``): an end needs a wider span because the shelf's
    edge is itself an estimate; a row lower than ``min_height`` times the photo's median
    row (a row cut by the frame, bottle necks or price strips boxed apart) is too partial
    to judge. A row the model is unsure of (its boxes' median confidence under ``unsure_row``
    times the photo's: a sign's letters, a blurred far row) is not judged either: the spans
    between unsure boxes are as likely the detector's misses as missing products. The bar is
    relative because confidences run lower on real photos than on synthetic ones (a fixed
    0.5 would silence 28 % of real rows; 0.6x the photo's median silences 6 %).
    A span whose area is ``filled`` or more covered by other rows' products is not empty: a
    bay beside the main shelf at other heights makes short rows whose spans run across the
    main shelf's products (0.3 chosen on the tuning set; by eye on real photos it also drops
    spans reaching across a neighbouring bay). ``empty`` marks
    detections that do not fill the shelf (``looks_empty``).
    """
    extents = row_boxes(boxes, row_of)
    if not extents:
        return []
    if shelf is None:  # the shelf's edges: where the widest rows start and end
        widths = sorted(extents, key=lambda e: e[2] - e[0], reverse=True)[: max(1, len(extents) // 2)]
        shelf = (float(np.median([e[0] for e in widths])), float(np.median([e[2] for e in widths])))
    out = []
    typical = float(np.median([e[3] - e[1] for e in extents]))
    photo_confidence = float(np.median(confidences)) if confidences is not None else 0.0
    for r, (_, y1, _, y2) in enumerate(extents):
        members = sorted((i for i, k in enumerate(row_of) if k == r), key=lambda i: boxes[i, 0])
        w = float(np.median([boxes[i, 2] - boxes[i, 0] for i in members]))
        if y2 - y1 < min_height * typical:
            continue
        if confidences is not None and np.median(confidences[members]) < unsure_row * photo_confidence:
            continue
        if empty is not None:
            members = [i for i in members if not empty[i]]
            if not members:
                continue
        if w <= 0:  # degenerate boxes (clipped to a line at the photo's edge): no width to measure by
            continue
        covered = shelf[0]  # how far from the left the row is filled (boxes may overlap)
        spans = [(float(boxes[i, 0]), float(boxes[i, 2])) for i in members] + [(shelf[1], shelf[1])]
        for k, (left, right) in enumerate(spans):
            span = left - covered
            at_end = k in (0, len(spans) - 1)
            box = (covered, float(y1), left, float(y2))
            if span > (end_gap if at_end else min_gap) * w and _filled(box, boxes, row_of, r, empty) < filled:
                ratio = span / w
                out.append(Gap(r, box, max(1, round(ratio)), round(min(1.0, (ratio - min_gap) / 1.0), 2)))
            covered = max(covered, right)
    return out


def _filled(box: Box, boxes: np.ndarray, row_of: list[int], row: int, empty: list[bool] | None) -> float:
    """The share of a span's area that other rows' products cover (sampled on a 32 x 16 grid)."""
    x1, y1, x2, y2 = box
    other = np.asarray(row_of) != row
    if empty is not None:
        other &= ~np.asarray(empty, bool)
    b = boxes[other]
    b = b[(b[:, 2] > x1) & (b[:, 0] < x2) & (b[:, 3] > y1) & (b[:, 1] < y2)]
    if not len(b):
        return 0.0
    xs = x1 + (np.arange(32) + 0.5) * (x2 - x1) / 32
    ys = y1 + (np.arange(16) + 0.5) * (y2 - y1) / 16
    in_x = (xs[None, :] >= b[:, 0:1]) & (xs[None, :] < b[:, 2:3])  # (boxes, 32)
    in_y = (ys[None, :] >= b[:, 1:2]) & (ys[None, :] < b[:, 3:4])  # (boxes, 16)
    return float((in_y[:, :, None] & in_x[:, None, :]).any(0).mean())


def _spread(gray: np.ndarray, box: np.ndarray | tuple[float, ...], margin: float = 0.15) -> float:
    """Grey-level standard deviation of a box's middle (``margin`` trimmed off each side); NaN if tiny."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    crop = gray[max(0, round(y1 + margin * h)):max(0, round(y2 - margin * h)),
                max(0, round(x1 + margin * w)):max(0, round(x2 - margin * w))]
    return float(crop.std()) if crop.size >= 4 else float("nan")


def looks_empty(gray: np.ndarray, boxes: np.ndarray, row_of: list[int], confidences: np.ndarray | None,
                flat: float = 0.2, unsure: float = 0.7) -> list[bool]:
    """Detections that look like the empty back of a shelf rather than a product.

    An empty shelf's back is dark and flat, and the detector sometimes boxes it. A box
    looks empty when the detector was unsure of it (confidence under ``unsure``) and its
    middle is flat: a grey-level spread under ``flat`` times that of its nearest row
    neighbours (printed packaging is busy; a shelf's back is not). ``gray`` is the photo
    at 1 scale of ``boxes``. Measured on synthetic shelves (``training.analytics_eval``):
    such boxes are 0.8 % of the product detections and most of the detections in true gaps.
    """
    n = len(boxes)
    spread = [_spread(gray, b) for b in boxes]
    centre = boxes[:, 0] + boxes[:, 2]
    by_row: dict[int, list[int]] = {}  # each row's measurable boxes, left to right by centre
    for j in sorted(range(n), key=lambda j: (centre[j], j)):
        if not np.isnan(spread[j]):
            by_row.setdefault(row_of[j], []).append(j)
    place = {j: k for members in by_row.values() for k, j in enumerate(members)}
    out = []
    for i in range(n):
        if (confidences is not None and confidences[i] >= unsure) or i not in place:
            out.append(False)  # sure of it, or too small to measure: a product
            continue
        row, k = by_row[row_of[i]], place[i]
        # the 4 nearest centres are among the 4 on either side: the row is sorted by centre
        near = sorted((j for j in row[max(0, k - 4):k + 5] if j != i),
                      key=lambda j: (abs(centre[j] - centre[i]), j))[:4]
        out.append(bool(near) and spread[i] < flat * statistics.median(spread[j] for j in near))
    return out


def _histogram(image: np.ndarray, box: np.ndarray, hsv: np.ndarray | None = None) -> np.ndarray | None:
    """A box's HSV colour histogram (8x4x4 bins, normalised); ``hsv``: the image already converted."""
    x1, y1, x2, y2 = (round(v) for v in box)
    if hsv is None:
        crop = image[max(0, y1):max(0, y2), max(0, x1):max(0, x2)]
        hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV) if crop.size else crop
    else:
        hsv = hsv[max(0, y1):max(0, y2), max(0, x1):max(0, x2)]
    if hsv.size == 0:
        return None
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256])
    return cv2.normalize(hist, hist).flatten()


def encode_appearance(hist: np.ndarray) -> str:
    """A histogram as a compact descriptor: its 128 bins scaled to bytes, base64 (172 characters)."""
    peak = float(hist.max()) or 1.0
    return base64.b64encode(np.round(hist / peak * 255).astype(np.uint8).tobytes()).decode()


def decode_appearance(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), np.uint8).astype(np.float32)


SIMILAR = 0.8  # two facings whose histograms correlate at least this much are one product


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """The correlation of two appearances (histograms or decoded descriptors); -1 if not comparable."""
    if len(a) != len(b):
        return -1.0
    return float(cv2.compareHist(a.astype(np.float32), b.astype(np.float32), cv2.HISTCMP_CORREL))


def appearance_of(image: np.ndarray, box: np.ndarray | list[float], scale: float = 1.0) -> str | None:
    """The descriptor of one box of a photo (``image`` at ``scale`` of the box's coordinates)."""
    hist = _histogram(image, np.asarray(box, np.float32) * scale)
    return None if hist is None else encode_appearance(hist)


def groups(boxes: np.ndarray, row_of: list[int], image: np.ndarray | None, scale: float = 1.0,
           similar: float = SIMILAR, hists: list[np.ndarray | None] | None = None) -> list[int]:
    """Group id of each facing: neighbours in a row that look alike share one.

    ``image`` holds the photo's pixels at ``scale`` of the boxes' coordinates (a reduced
    decode); without it each facing is its own group. ``hists``: each box's histogram, when
    the caller has them already.
    """
    n = len(boxes)
    group = list(range(n))
    if image is not None and n:
        hists = hists if hists is not None else [_histogram(image, b * scale) for b in boxes]
        for r in range(max(row_of) + 1):
            members = sorted((i for i, k in enumerate(row_of) if k == r), key=lambda i: boxes[i, 0])
            for a, b in itertools.pairwise(members):
                ha, hb = hists[a], hists[b]
                if ha is not None and hb is not None and cv2.compareHist(ha, hb, cv2.HISTCMP_CORREL) >= similar:
                    group[b] = group[a]
    # ids in reading order: the first group met (top row, leftmost) is 0
    order = sorted(range(n), key=lambda i: (row_of[i], boxes[i, 0]))
    ids: dict[int, int] = {}
    for i in order:
        ids.setdefault(group[i], len(ids))
    return [ids[g] for g in group]


def analyse(boxes: np.ndarray, image: np.ndarray | None = None, scale: float = 1.0,
            confidences: np.ndarray | None = None) -> dict:
    """Rows, gaps, groups, facings and share of shelf of one photo (JSON-ready).

    ``image``: the photo's pixels at ``scale`` of the boxes' coordinates (a reduced decode);
    without it there are no appearance groups and no empty-looking detections.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    row_of = rows(boxes)
    hists = None
    if image is not None:
        hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)  # once for the photo, not once per box
        hists = [_histogram(image, b * scale, hsv) for b in boxes]
    group_of = groups(boxes, row_of, image, scale, hists=hists)
    empty = None
    if image is not None and len(boxes):
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        empty = looks_empty(gray, boxes * scale, row_of, confidences)
    found_gaps = gaps(boxes, row_of, empty=empty,
                      confidences=None if confidences is None else np.asarray(confidences, np.float32))
    occupied = float(sum(boxes[:, 2] - boxes[:, 0])) or 1.0
    group_list = []
    of_group: dict[int, list[int]] = {}
    for i, g in enumerate(group_of):
        of_group.setdefault(g, []).append(i)
    for g in range(max(group_of, default=-1) + 1):
        members = of_group[g]
        seen = [h for h in (hists[i] for i in members) if h is not None] if hists is not None else []
        group_list.append({"id": g, "row": row_of[members[0]], "facings": len(members),
                           "share_of_shelf": round(float(sum(boxes[i, 2] - boxes[i, 0] for i in members))
                                                   / occupied, 4),
                           "box": [round(float(v), 1) for v in boxes[members[0]]],  # a representative facing
                           "appearance": encode_appearance(np.mean(seen, axis=0)) if seen else None})
    row_list = []
    groups_in: dict[int, set[int]] = {}
    for r, g in zip(row_of, group_of, strict=True):
        groups_in.setdefault(r, set()).add(g)
    for r, extent in enumerate(row_boxes(boxes, row_of)):
        row_list.append({"index": r, "box": [round(v, 1) for v in extent], "facings": row_of.count(r),
                         "groups": len(groups_in[r]), "gaps": sum(1 for gp in found_gaps if gp.row == r)})
    return {
        "rows": row_list,
        "groups": group_list,
        "gaps": [{"row": gp.row, "box": [round(v, 1) for v in gp.box], "missing": gp.missing,
                  "confidence": gp.confidence} for gp in found_gaps],
        "facings": len(boxes),
        "missing_facings": sum(gp.missing for gp in found_gaps),
        "detections": [{"row": r, "group": g} for r, g in zip(row_of, group_of, strict=True)],
    }
