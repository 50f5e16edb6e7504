"""Self-training across the synthetic-to-real gap: label real photos with a model's
confident detections, then train on them beside synthetic shelves.

The photos are linked, never copied (their licence forbids shipping them); only the
label files are written. Products the teacher missed become background in these
labels, so the threshold trades wrong boxes (too low) against taught misses (too high):
the default 0.4 sits just above the v1 model's best count-error threshold on val.

With ``ignore_below`` the teacher also reports its unsure detections (confidence between
``ignore_below`` and ``conf``); those regions are painted the letterbox grey in a local
copy of the photo (under the gitignored build folder), so the student is taught neither
"product" nor "background" there: an unsure product no longer becomes a taught miss.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from shared.detector import Detection, Detector
from shared.imaging import decode
from training.stacks import looks_stacked

GREY = 114  # the letterbox fill: what the model already sees as "no photo here"


def pseudo_label(model: Path, photos: list[Path], out: Path, conf: float = 0.4,
                 ignore_below: float | None = None, mask_stacks: bool = False) -> Path:
    """Write ``out/images/train`` (links, or masked copies) and ``out/labels/train``; returns the images folder."""
    images, labels = out / "images" / "train", out / "labels" / "train"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    det = None
    for photo in photos:
        label = labels / (photo.stem + ".txt")
        if label.exists():
            continue  # resumable
        det = det or Detector(model, threads=1, conf_threshold=ignore_below or conf)
        data = photo.read_bytes()
        found = det.detect(data)
        d = decode(data)
        W, H = d.width, d.height
        sure, unsure = sort_out(found, d.image, conf, mask_stacks)
        target = images / photo.name
        if unsure:
            masked = mask_unsure(d.image, sure, unsure)  # full decode: pixels are the original's
            cv2.imwrite(str(target.with_suffix(".jpg")), masked, [cv2.IMWRITE_JPEG_QUALITY, 92])
        elif not target.exists():
            os.symlink(photo.resolve(), target)
        label.write_text("".join(
            f"0 {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f}\n"
            for x1, y1, x2, y2 in sure))
    return images


def sort_out(found: list[Detection], image: np.ndarray, conf: float, mask_stacks: bool) -> tuple[list, list]:
    """(boxes to teach as products, boxes to paint out): below ``conf`` a box is unsure, and
    with ``mask_stacks`` so is a confident box round what looks like a stack of packs."""
    sure: list[tuple[float, float, float, float]] = []
    unsure: list[tuple[float, float, float, float]] = []
    for f in found:
        stacked = mask_stacks and f.confidence >= conf and looks_stacked(crop(image, f.box))
        (sure if f.confidence >= conf and not stacked else unsure).append(f.box)
    return sure, unsure


def crop(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    x1, y1, x2, y2 = (round(v) for v in box)
    return image[max(0, y1): y2, max(0, x1): x2]


def mask_unsure(image: np.ndarray, sure: list, unsure: list) -> np.ndarray:
    """Paint the unsure boxes grey, then restore the sure ones on top (they may overlap)."""
    out = image.copy()
    for x1, y1, x2, y2 in unsure:
        out[int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))] = GREY
    for x1, y1, x2, y2 in sure:
        ys, xs = slice(int(y1), int(np.ceil(y2))), slice(int(x1), int(np.ceil(x2)))
        out[ys, xs] = image[ys, xs]
    return out
