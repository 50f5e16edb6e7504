"""Does a box hold a stack? Identical packs stacked in layers, found by their repetition.

On real shelves identical packs stand in stacks 2-5 high, and every layer is a product
(SKU-110K boxes each one; so did the hand counts in ``training/real_rows.json``). The
models up to v6 draw one box per stack instead: on the hand-counted rows the stacked
ones were the largest misses (a row of candle packs 3-4 high: 10 found of 26). Two
training sources teach that mistake back to the next model: a pseudo-label is the
teacher's own box round a whole stack, and the bank of real faces
(``training/realfaces.py``) cuts such a box out and prints it as *one* product.

A stack of ``k`` identical packs repeats with a period of a layer: split the box into
``k`` equal bands and each band looks like the next. A product that is merely uniform
from top to bottom (a candle, a can's side, a plain carton) also looks like itself a
layer lower, so the test asks for a contrast: the bands must match at the layer period
and match clearly worse half a layer off. The test is deliberately lenient: it only
decides which training examples to leave out, where a false alarm costs one example.
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_LAYERS = 5
MIN_LAYER_PX = 10      # a layer smaller than this carries no pattern to compare
MAX_LAYER_ASPECT = 6   # width / height of one layer: flatter than that is no pack
BAND_SIDE = 16         # bands are compared at this size, which ignores fine print and noise
REPEAT = 0.4           # correlation of neighbouring bands at the layer period, at least
CONTRAST = 0.15        # ... and that much above the correlation half a layer off


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two equal-sized arrays (0 when either is flat)."""
    a = a - a.mean()
    b = b - b.mean()
    d = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / d if d > 1e-6 else 0.0


def layer_repeat(crop: np.ndarray) -> tuple[int, float, float]:
    """``(k, repeat, off)`` for the layer count ``k`` (2..5) that best separates the two
    correlations of a grey crop: ``repeat`` between bands one layer apart (the worst pair),
    ``off`` between bands half a layer apart (the best pair). ``(1, 0, 0)`` if no ``k`` fits."""
    h, w = crop.shape[:2]
    crop = crop.astype(np.float32)
    best = (1, 0.0, 0.0)
    for k in range(2, MAX_LAYERS + 1):
        lh = h / k
        if lh < MIN_LAYER_PX or w / lh > MAX_LAYER_ASPECT:
            continue

        def band(y: float, lh: float = lh) -> np.ndarray:
            return cv2.resize(crop[int(y): int(y + lh)], (BAND_SIDE, BAND_SIDE), interpolation=cv2.INTER_AREA)

        repeat = min(ncc(band(i * lh), band((i + 1) * lh)) for i in range(k - 1))
        off = max(ncc(band(i * lh), band((i + 0.5) * lh)) for i in range(k - 1))
        if repeat - max(off, 0.0) > best[1] - max(best[2], 0.0):
            best = (k, repeat, off)
    return best


def looks_stacked(crop: np.ndarray) -> bool:
    """True when a crop (BGR or grey) is likely a stack of identical packs (lenient)."""
    if min(crop.shape[:2]) < 4:  # an empty or sliver box at the photo's edge
        return False
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    k, repeat, off = layer_repeat(grey)
    return k > 1 and repeat >= REPEAT and repeat - max(off, 0.0) >= CONTRAST
