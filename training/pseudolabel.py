"""Self-training across the synthetic-to-real gap: label real photos with a model's
confident detections, then train on them beside synthetic shelves.

The photos are linked, never copied (their licence forbids shipping them); only the
label files are written. Products the teacher missed become background in these
labels, so the threshold trades wrong boxes (too low) against taught misses (too high):
the default 0.4 sits just above the v1 model's best count-error threshold on val.
"""

from __future__ import annotations

import os
from pathlib import Path

from shared.detector import Detector
from shared.imaging import decode


def pseudo_label(model: Path, photos: list[Path], out: Path, conf: float = 0.4) -> Path:
    """Write ``out/images/train`` (links) and ``out/labels/train``; returns the images folder."""
    images, labels = out / "images" / "train", out / "labels" / "train"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    det = None
    for photo in photos:
        label = labels / (photo.stem + ".txt")
        if label.exists():
            continue  # resumable
        det = det or Detector(model, threads=1, conf_threshold=conf)
        data = photo.read_bytes()
        found = det.detect(data)
        d = decode(data)
        W, H = d.width, d.height
        label.write_text("".join(
            f"0 {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f}\n"
            for x1, y1, x2, y2 in (f.box for f in found)))
        link = images / photo.name
        if not link.exists():
            os.symlink(photo.resolve(), link)
    return images
