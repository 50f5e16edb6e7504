"""Real product boxes as training data: the labelled train photos (``training/labels_real``,
made by ``training.label_real``), each whole and cut into overlapping tiles, repeated to a
chosen share of the training set.

The whole photo teaches the scale the served model sees (a dense shelf shrunk to the input
size); the tiles (a ``grid`` × ``grid`` cut, neighbours sharing ``overlap``) show the same
facings at twice the size, where a stack's units and a shelf edge are easier to tell. A
box cut by a tile's edge stays when at least ``min_visible`` of it is inside, clipped;
less, and the part is painted the letterbox grey so the tile teaches neither product nor
background there. A region the labeller left unjudged (``ignore_regions`` in the photo's
corrections) is painted grey the same way. ``repeat`` copies of each picture set the mix ratio against the
synthetic shelves (Ultralytics samples every listed picture once an epoch).

Only photos on the folder's ``train.txt`` are taken (the val photos' boxes measure, they
never teach); the pictures land under the workdir (gitignored), never in the repository.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from training.label_real import read_labels
from training.pseudolabel import GREY
from training.tiling import tiles


def labelled_train(photos: Path, listing: Path, labels: Path) -> list[Path]:
    """The photos ``listing`` (the train split) names that carry product boxes in ``labels``."""
    names = [Path(line.strip()).stem for line in listing.read_text().splitlines() if line.strip()]
    return [photos / f"{n}.jpg" for n in names if (labels / f"{n}.txt").exists()]


def pieces(image: np.ndarray, boxes: np.ndarray, grid: int, overlap: float,
           min_visible: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """(picture, boxes in its pixels): the whole photo, then each tile."""
    h, w = image.shape[:2]
    out = [(image, boxes)]
    for x1, y1, x2, y2 in tiles(w, h, grid, overlap) if grid > 1 else []:
        clipped = np.clip(boxes - [x1, y1, x1, y1], 0, [x2 - x1, y2 - y1, x2 - x1, y2 - y1])
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        inside = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
        share = np.where(area > 0, inside / np.maximum(area, 1e-6), 0.0)
        tile = image[y1:y2, x1:x2].copy()
        for b in clipped[(share > 0) & (share < min_visible)]:  # a sliver: neither taught nor background
            tile[int(b[1]):int(np.ceil(b[3])), int(b[0]):int(np.ceil(b[2]))] = GREY
        out.append((tile, clipped[share >= min_visible]))
    return out


def build(photos: list[Path], labels: Path, out: Path, repeat: int = 1, grid: int = 2, overlap: float = 0.25,
          min_visible: float = 0.6, long_side: int = 1600) -> Path:
    """Write ``out/images/train`` and ``out/labels/train``; returns the images folder. Pictures are
    shrunk to ``long_side`` at most (training runs at 640; this keeps the files small)."""
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, not {repeat}")
    images, label_dir = out / "images" / "train", out / "labels" / "train"
    for folder in (images, label_dir):  # built afresh each time: the labels may have changed since
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    for photo in photos:
        image = cv2.imread(str(photo))
        if image is None:
            raise FileNotFoundError(f"{photo}: not a readable photo")
        h, w = image.shape[:2]
        boxes = read_labels(labels / f"{photo.stem}.txt", w, h)
        fix = labels / f"{photo.stem}.json"
        for x1, y1, x2, y2 in json.loads(fix.read_text()).get("ignore_regions", []) if fix.exists() else []:
            image[int(y1):int(y2), int(x1):int(x2)] = GREY  # left unjudged by the labeller: taught nothing
            cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
            boxes = boxes[~((cx >= x1) & (cx <= x2) & (cy >= y1) & (cy <= y2))]
        for k, (pic, b) in enumerate(pieces(image, boxes, grid, overlap, min_visible)):
            s = min(1.0, long_side / max(pic.shape[:2]))
            if s < 1.0:
                pic = cv2.resize(pic, (round(pic.shape[1] * s), round(pic.shape[0] * s)), interpolation=cv2.INTER_AREA)
            ph, pw = pic.shape[:2]
            b = b * s
            text = "".join(f"0 {(x1 + x2) / 2 / pw:.6f} {(y1 + y2) / 2 / ph:.6f} {(x2 - x1) / pw:.6f} "
                           f"{(y2 - y1) / ph:.6f}\n" for x1, y1, x2, y2 in b)
            for r in range(repeat):
                stem = f"{photo.stem}-{'whole' if k == 0 else f'tile{k}'}-r{r}"
                cv2.imwrite(str(images / f"{stem}.jpg"), pic, [cv2.IMWRITE_JPEG_QUALITY, 92])
                (label_dir / f"{stem}.txt").write_text(text)
    return images
