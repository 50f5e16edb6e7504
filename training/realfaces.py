"""A bank of real product faces for synthetic shelves (style 3 in ``training/synth.py``).

Procedural packaging is the largest remaining gap between synthetic and real shelves:
real faces carry photos, small print, transparent plastic, reflections and the colours
of real brands. Real shelf photos carry no product boxes, but a trained model finds the
clear products on them with high confidence. Cutting those out and printing them on
synthetic shelves gives real product appearance with *exact* labels, since the generator
places every face itself. Self-training (``training/pseudolabel.py``) shows the same
photos with the teacher's noisy labels; this shows their products with clean ones.

Only clear cases go into the bank: confident detections, not touching the photo's edge
(cut products), not overlapping another detection much (two products in one box), of a
plausible aspect, and (with ``drop_stacks``) not a stack of identical packs: a model that
boxes a stack as one product would otherwise teach, through the bank, that a stack *is*
one product (``training/stacks.py``). The crops are written under the gitignored build folder; the photos'
licence forbids shipping them, and the bank is rebuilt from them wherever they exist.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from shared.detector import Detector, intersections
from shared.imaging import decode
from training.stacks import looks_stacked

MIN_SIDE = 16           # px in the real photo: smaller crops are mostly blur
ASPECT = (0.15, 3.0)    # width / height of a plausible product face
MAX_OVERLAP = 0.25      # share of a box covered by another confident box: likely a merged pair
BANK_SIDE = 160         # longest side kept in memory: products are drawn at <~120 px


def clear_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """The boxes ``(n, 4)`` worth cutting out: inside the photo, plausible, not overlapping."""
    if len(boxes) == 0:
        return boxes
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    ok = (np.minimum(w, h) >= MIN_SIDE) & (w / np.maximum(h, 1) >= ASPECT[0]) & (w / np.maximum(h, 1) <= ASPECT[1])
    ok &= (boxes[:, 0] > 1) & (boxes[:, 1] > 1) & (boxes[:, 2] < width - 1) & (boxes[:, 3] < height - 1)
    inter = intersections(boxes, boxes)
    np.fill_diagonal(inter, 0)
    ok &= inter.sum(1) / np.maximum(w * h, 1) <= MAX_OVERLAP
    return boxes[ok]


def build_bank(model: Path, photos: list[Path], out: Path, conf: float = 0.5, drop_stacks: bool = False) -> Path:
    """Cut the clear products the model finds at ``conf`` or above out of ``photos`` into ``out``;
    with ``drop_stacks``, leave out crops that look like a stack of identical packs.

    Resumable: a photo whose ``.done`` marker exists is skipped.
    """
    out.mkdir(parents=True, exist_ok=True)
    det = None
    for photo in photos:
        marker = out / f"{photo.stem}.done"
        if marker.exists():
            continue
        det = det or Detector(model, threads=1, conf_threshold=conf)
        data = photo.read_bytes()
        found = det.detect(data)
        image = decode(data).image  # full resolution, EXIF-rotated like the boxes
        H, W = image.shape[:2]
        boxes = clear_boxes(np.array([d.box for d in found], np.float32).reshape(-1, 4), W, H)
        crops = [image[y1:y2, x1:x2] for x1, y1, x2, y2 in boxes.round().astype(int)]
        kept = [c for c in crops if not (drop_stacks and looks_stacked(c))]
        for k, crop in enumerate(kept):
            cv2.imwrite(str(out / f"{photo.stem}_{k:03d}.jpg"), crop, [cv2.IMWRITE_JPEG_QUALITY, 92])
        marker.write_text(f"{len(kept)} of {len(found)} detections kept ({len(crops) - len(kept)} stacks left out)\n")
    return out


def load_bank(folder: Path) -> list[np.ndarray]:
    """Every face in the bank, longest side at most ``BANK_SIDE`` px."""
    faces = []
    for path in sorted(folder.glob("*.jpg")):
        face = cv2.imread(str(path))
        if face is None:
            continue
        r = BANK_SIDE / max(face.shape[:2])
        if r < 1:
            face = cv2.resize(face, (max(1, round(face.shape[1] * r)), max(1, round(face.shape[0] * r))),
                              interpolation=cv2.INTER_AREA)
        faces.append(face)
    if not faces:
        raise ValueError(f"{folder}: the bank of real product faces is empty")
    return faces
