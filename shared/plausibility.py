"""Is this a shelf photo at all? A check on the detector's own output, after detection.

Random noise comes back from the detector with hundreds of "products" (246–595 in the
issue); nothing in the counts tells such a photo from a shelf. ``not_a_shelf`` reads two
traits off the detections and flags a photo only when both look like noise:

* **Few confident boxes.** On noise the model's boxes hug its threshold (0.25): almost
  none reach ``CONFIDENT`` (0.4). On a shelf, even a hard one (a stacked display seen
  down an aisle), a good share does.
* **Boxes not side by side.** Products on a shelf stand next to each other: nearly every
  box has a neighbour at its left or right edge at the same height. Noise boxes fall
  where they fall.

Fewer than ``MIN_DETECTIONS`` boxes are never flagged: too few to judge, and too few
to mislead (a blank wall or an empty shelf reports few products anyway).

Measured with ``python -m devtools.bench.shelf_check`` on shelfwatch-v11-int8, served
at 640 px ("accurate") and 512 px ("fast"), 1 ORT thread. Shelf photos: the 232 real
ones, the same at 1024 px (a phone upload), 29 of them blurred, darkened and at 640 px,
and the 4 samples (1110 photo × mode runs, each with 37 boxes or more). Noise: uniform,
gaussian and blurred, with 30 boxes or more (53 runs):

=====================  ===========  ===========  ==========
trait                  shelf        noise        flagged if
=====================  ===========  ===========  ==========
confident share        0.25 – 0.99  0.00 – 0.10  < 0.18
side-by-side share     0.78 – 1.00  0.38 – 0.74  < 0.80
=====================  ===========  ===========  ==========

The confident share separates on its own: the closest shelf photo (train_3092 at
512 px, a soda display where the model is unsure, 180 boxes) has 0.25, so a shelf would
need 28 % fewer confident boxes than the hardest one seen to reach the threshold; the
noisiest noise has 0.10. The side-by-side share does not separate on its own (train_2992
at 1024 px, 512 px: 0.78, with a confident share of 0.55); it is a second condition that
keeps a shelf the model is unsure of (a dim or blurred photo) unflagged as long as its
boxes stand side by side, as on a shelf they do (median 0.95). It costs little: 3 of the
generated non-shelf runs have a confident share below 0.18 but tiled boxes.

What it does not catch (see the benchmark's table): patterns the model is sure of
(checkerboards, rectangles, most text) and a shelf photo shuffled in 32 px tiles, whose
tiles carry real product fragments (its boxes are as confident and as side by side as
on a hard real shelf; only the 4032 px versions, tiles smaller than a product, are
caught). The analytics' rows did not help: ``analytics.rows`` welds noise boxes into rows
as readily as it joins a real row (share of boxes in rows of three or more: shelf
0.88 – 1.00, noise 0.33 – 1.00, most above 0.9), so nothing here reads the rows, and
the photo's size is not needed either.

The thresholds belong to the detector they were measured on: a model with another
confidence threshold or calibration needs the benchmark run again, and its card carries
what it measured (``shelf_check``: any of ``confident``, ``max_confident_share``,
``max_side_by_side``, the rest staying the defaults below, and a free-text ``measured``
saying how; ``by_size`` holds limits for one input size over those, for a model served
at two sizes: ``ModelCard.shelf_check_at``, which the worker reads). shelfwatch-v14, served in
``accurate`` at 800 px since 2026-12-01, is less sure of itself than v11 (its served
threshold is 0.175): on the same 1110 runs its shelf photos read a confident share of
0.08 – 0.99 (train_2992, an aisle seen from its end, the lowest, at 800 and 1024 px) and
its noise 0.00, so with v11's 0.18 it flagged 6 shelf photos; its card sets
``max_confident_share`` 0.04 (side by side unchanged: shelves 0.51 – 1.00, noise 0.15 –
0.53), which flags every noise run v11's limits flagged on v14 and no shelf photo (of the
other generated images it flags fewer than 0.18 did: text 2 of 11 instead of 5, shuffled
tiles 2 of 12 instead of 4, checkerboards 1 of 10 instead of 2). shelfwatch-v15, serving
``accurate`` at 1024 px and ``fast`` at 640 px since the fourth model round, reads shelves at
0.16 – 1.00 and noise at 0.04 – 0.09 at 1024 px (its card: 0.12) and, at 640 px, the aisle
seen from its end at 0.027 and noise up to 0.033 (``by_size`` 640: 0.025, no shelf photo
flagged, 4 of 6 noise runs); it finds few boxes on noise at all, under ``MIN_DETECTIONS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.detector import Detection

MIN_DETECTIONS = 30  # fewer boxes than this are never flagged
CONFIDENT = 0.40  # a box at least this confident counts as confident
MAX_CONFIDENT_SHARE = 0.18  # flagged only below this share of confident boxes ...
MAX_SIDE_BY_SIDE = 0.80  # ... and below this share of boxes with a neighbour beside them
SIDE_OVERLAP = 0.5  # neighbours overlap vertically by at least this share of the shorter box
SIDE_GAP = 0.25  # and the space between them (or their overlap) is at most this share of the narrower box's width


def limits_of(card_limits: dict | None) -> tuple[float, float, float]:
    """(confident, max confident share, max side-by-side share): a card's ``shelf_check`` over the defaults."""
    given = card_limits or {}
    unknown = set(given) - {"confident", "max_confident_share", "max_side_by_side", "measured"}
    if unknown:
        raise ValueError(f"shelf_check: unknown limits {sorted(unknown)}")
    return (float(given.get("confident", CONFIDENT)), float(given.get("max_confident_share", MAX_CONFIDENT_SHARE)),
            float(given.get("max_side_by_side", MAX_SIDE_BY_SIDE)))


@dataclass(frozen=True)
class Traits:
    """What ``not_a_shelf`` reads off one photo's detections."""

    detections: int
    confident_share: float  # share of boxes at confidence >= CONFIDENT
    side_by_side: float  # share of boxes with a neighbour at their left or right edge
    median_confidence: float


def side_by_side(boxes: np.ndarray) -> np.ndarray:
    """Which boxes (x1, y1, x2, y2) have a neighbour beside them, left or right.

    Two boxes are neighbours when their vertical spans overlap by at least
    ``SIDE_OVERLAP`` of the shorter one's height and one's left edge lies within
    ``SIDE_GAP`` of the narrower one's width of the other's right edge (a small gap or a
    small overlap): facings standing next to each other on a shelf.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    w = np.maximum(boxes[:, 2] - boxes[:, 0], 1e-6)
    h = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)
    overlap_y = np.minimum(boxes[:, None, 3], boxes[None, :, 3]) - np.maximum(boxes[:, None, 1], boxes[None, :, 1])
    level = overlap_y >= SIDE_OVERLAP * np.minimum(h[:, None], h[None, :])
    # [i, j]: j's left edge near i's right edge, i.e. j stands right of i
    right = np.abs(boxes[None, :, 0] - boxes[:, None, 2]) <= SIDE_GAP * np.minimum(w[:, None], w[None, :])
    beside = level & right
    np.fill_diagonal(beside, False)
    return np.asarray(beside.any(axis=1) | beside.any(axis=0))


def traits(found: Sequence[Detection], confident: float = CONFIDENT) -> Traits:
    """The traits of one photo's detections (zeros for none)."""
    if not found:
        return Traits(0, 0.0, 0.0, 0.0)
    conf = np.array([d.confidence for d in found], np.float64)
    boxes = np.array([d.box for d in found], np.float64)
    return Traits(len(found), float(np.mean(conf >= confident)), float(np.mean(side_by_side(boxes))),
                  float(np.median(conf)))


def not_a_shelf(found: Sequence[Detection], card_limits: dict | None = None) -> str | None:
    """None for a plausible shelf photo, else a short reason a person can read.

    ``found`` is the photo's detections as the detector returns them (at the model
    card's confidence threshold); ``card_limits`` the card's ``shelf_check`` (None: the
    defaults, measured on v11). Pure: no model, no pixels; see the module's doc for the
    rule and its measured margins.
    """
    confident, max_confident_share, max_side_by_side = limits_of(card_limits)
    t = traits(found, confident)
    if t.detections < MIN_DETECTIONS:
        return None
    if t.confident_share < max_confident_share and t.side_by_side < max_side_by_side:
        return (f"detections look like noise, not products: {t.detections} boxes, "
                f"{t.confident_share:.0%} at confidence ≥ {confident:.1f} (median {t.median_confidence:.2f}), "
                f"{t.side_by_side:.0%} side by side with a neighbour")
    return None
