"""Sanity check of a model on real shelf photos that carry no product boxes.

    python -m training.realcheck --model models/shelfwatch-v1-int8.onnx \
        --photos ../shared/data/sku110k-shelf/images --list ../shared/data/sku110k-shelf/val.txt

Real shelf photos hold ~150 products on average (SKU-110K), so per-photo counts far
outside roughly 40-400 mean the model is missing products or counting price tags.
It writes the counts as JSON and a contact sheet of annotated photos to look at.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import cv2
import numpy as np

from shared.detector import Detector

PLAUSIBLE = (40, 400)


def annotate(img: np.ndarray, boxes: list[tuple[float, float, float, float]], scale: float) -> np.ndarray:
    out = img.copy()
    for x1, y1, x2, y2 in boxes:
        cv2.rectangle(out, (int(x1 / scale), int(y1 / scale)), (int(x2 / scale), int(y2 / scale)), (0, 255, 0), 2)
    return out


def contact_sheet(tiles: list[np.ndarray], cols: int = 3, tile: int = 520) -> np.ndarray:
    cells = []
    for t in tiles:
        h, w = t.shape[:2]
        r = tile / max(h, w)
        cell = np.full((tile, tile, 3), 255, np.uint8)
        small = cv2.resize(t, (int(w * r), int(h * r)), interpolation=cv2.INTER_AREA)
        cell[: small.shape[0], : small.shape[1]] = small
        cells.append(cell)
    while len(cells) % cols:
        cells.append(np.full((tile, tile, 3), 255, np.uint8))
    rows = [np.hstack(cells[i : i + cols]) for i in range(0, len(cells), cols)]
    return np.vstack(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--photos", type=Path, required=True)
    ap.add_argument("--list", type=Path, default=None, help="file of photo names/paths to use")
    ap.add_argument("--out", type=Path, default=Path("build/realcheck"))
    ap.add_argument("--sheet", type=int, default=6, help="photos on the contact sheet")
    args = ap.parse_args()
    if args.list:
        names = [Path(ln.strip()).name for ln in args.list.read_text().splitlines() if ln.strip()]
        photos = [args.photos / n for n in names if (args.photos / n).exists()]
    else:
        photos = sorted(args.photos.glob("*.jpg"))
    det = Detector(args.model, threads=1)
    args.out.mkdir(parents=True, exist_ok=True)
    counts, tiles = {}, []
    for i, p in enumerate(photos):
        found = det.detect(p.read_bytes())
        counts[p.name] = len(found)
        if i < args.sheet:
            img = cv2.imread(str(p))
            tiles.append(annotate(img, [d.box for d in found], 1.0))
    values = list(counts.values())
    summary = {
        "model_version": det.version, "photos": len(values),
        "count_median": statistics.median(values), "count_min": min(values), "count_max": max(values),
        "plausible_range": PLAUSIBLE,
        "share_plausible": round(sum(PLAUSIBLE[0] <= v <= PLAUSIBLE[1] for v in values) / len(values), 3),
        "counts": counts,
    }
    (args.out / "counts.json").write_text(json.dumps(summary, indent=1))
    cv2.imwrite(str(args.out / "sheet.jpg"), contact_sheet(tiles), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(json.dumps({k: v for k, v in summary.items() if k != "counts"}))


if __name__ == "__main__":
    main()
