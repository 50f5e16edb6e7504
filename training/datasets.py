"""Bring any real dataset into the YOLO layout training expects, in one call.

- a YOLO dataset: its ``data.yaml`` is used as it is (``single_cls`` folds every class
  into ``product``, which is what shelf counting needs);
- SKU-110K's CSV annotations (``image,x1,y1,x2,y2,class,image_width,image_height``, one
  row per box, no header): converted to YOLO labels with the images linked, not copied.

    python -m training.datasets sku110k annotations_train.csv --images SKU110K/images --out build/sku110k
"""

from __future__ import annotations

import argparse
import csv
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from training.synth import CLASS_NAMES


def write_data_yaml(root: Path, train: str = "images/train", val: str = "images/val") -> Path:
    yaml = root / "data.yaml"
    yaml.write_text(f"path: {root.resolve()}\ntrain: {train}\nval: {val}\nnames:\n"
                    + "".join(f"  {i}: {n}\n" for i, n in enumerate(CLASS_NAMES)))
    return yaml


def read_sku110k_csv(csv_path: Path) -> dict[str, tuple[int, int, list[tuple[float, ...]]]]:
    """image name → (width, height, [x1, y1, x2, y2 boxes]); malformed rows are reported."""
    photos: dict[str, list] = defaultdict(list)
    sizes: dict[str, tuple[int, int]] = {}
    with open(csv_path, newline="") as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if not row or row[0] == "image_name":
                continue
            if len(row) != 8:
                raise ValueError(f"{csv_path}:{lineno}: expected 8 columns "
                                 "(image,x1,y1,x2,y2,class,image_width,image_height), got {len(row)}")
            name, x1, y1, x2, y2, _cls, w, h = row
            W, H = int(w), int(h)
            box = (max(0.0, float(x1)), max(0.0, float(y1)), min(float(W), float(x2)), min(float(H), float(y2)))
            if box[2] - box[0] < 1 or box[3] - box[1] < 1:
                continue  # degenerate after clipping
            sizes[name] = (W, H)
            photos[name].append(box)
    return {n: (*sizes[n], boxes) for n, boxes in photos.items()}


def import_sku110k(csv_path: Path, images: Path, out: Path, val_fraction: float = 0.1, seed: int = 0) -> Path:
    """Convert SKU-110K CSV annotations to a YOLO dataset under ``out``; returns data.yaml."""
    photos = read_sku110k_csv(Path(csv_path))
    names = sorted(photos)
    rng = np.random.default_rng(seed)
    val = set(rng.choice(names, size=max(1, int(len(names) * val_fraction)), replace=False)) if names else set()
    missing = 0
    for name in names:
        split = "val" if name in val else "train"
        src = Path(images) / name
        if not src.exists():
            missing += 1
            continue
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        link = out / "images" / split / name
        if not link.exists():
            os.symlink(src.resolve(), link)
        W, H, boxes = photos[name]
        lines = [f"0 {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f}"
                 for x1, y1, x2, y2 in boxes]
        (out / "labels" / split / Path(name).with_suffix(".txt").name).write_text("\n".join(lines) + "\n")
    if missing:
        print(f"warning: {missing} of {len(names)} annotated images are not in {images}")
    return write_data_yaml(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="kind", required=True)
    p = sub.add_parser("sku110k")
    p.add_argument("csv", type=Path)
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--val-fraction", type=float, default=0.1)
    args = ap.parse_args()
    print(import_sku110k(args.csv, args.images, args.out, args.val_fraction))


if __name__ == "__main__":
    main()
