"""Tiled inference, measured: the photo cut into overlapping tiles, each run at the model's
input size, the boxes mapped back and merged with the whole photo's.

    python -m training.tiling [MODEL] [--grid 2] [--overlap 0.25]   # on the labelled real val photos

Dense, far shots put products a dozen input pixels across at 640 px; a tile of a quarter
of the photo doubles that. The question is whether it pays against its cost (``grid²+1``
model calls a photo), on real product boxes (``training/labels_real``, ``label_real``):
mAP50 and count error at the served threshold beside the plain run, and ms a photo.
Nothing here is served; the measurement decides whether it should be.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from shared.detector import Detector, nested_in_higher
from shared.imaging import Decoded, decode


def tiles(width: int, height: int, grid: int, overlap: float) -> list[tuple[int, int, int, int]]:
    """``grid`` × ``grid`` windows (x1, y1, x2, y2) covering the photo, neighbours sharing ``overlap`` of a tile."""
    tw, th = width / (grid - (grid - 1) * overlap), height / (grid - (grid - 1) * overlap)
    out = []
    for j in range(grid):
        for i in range(grid):
            x1, y1 = round(i * tw * (1 - overlap)), round(j * th * (1 - overlap))
            out.append((x1, y1, min(width, round(x1 + tw)), min(height, round(y1 + th))))
    return out


def detect_tiled(det: Detector, photo: bytes, grid: int = 2, overlap: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (n, 4, photo pixels) and confidences: the whole photo's and every tile's, merged."""
    whole = det.detect(photo)
    boxes = [np.array([d.box for d in whole], np.float32).reshape(-1, 4)]
    conf = [np.array([d.confidence for d in whole], np.float32)]
    full = decode(photo)  # the tiles need the photo's own pixels
    h, w = full.image.shape[:2]
    for x1, y1, x2, y2 in tiles(w, h, grid, overlap):
        crop = Decoded(np.ascontiguousarray(full.image[y1:y2, x1:x2]), x2 - x1, y2 - y1, 1.0)
        tensor, meta = det.to_tensor(crop, det.size)
        found = det.postprocess(det.predict(tensor[None])[0], meta)
        b = np.array([d.box for d in found], np.float32).reshape(-1, 4)
        edge = 2.0  # a box cut by a tile's inner edge is a part of a product: the neighbour tile has it whole
        cut = (((b[:, 0] <= edge) & (x1 > 0)) | ((b[:, 2] >= x2 - x1 - edge) & (x2 < w))
               | ((b[:, 1] <= edge) & (y1 > 0)) | ((b[:, 3] >= y2 - y1 - edge) & (y2 < h)))
        boxes.append(b[~cut] + np.array([x1, y1, x1, y1], np.float32))
        conf.append(np.array([d.confidence for d in found], np.float32)[~cut])
    return merge(np.concatenate(boxes), np.concatenate(conf), det)


def merge(boxes: np.ndarray, conf: np.ndarray, det: Detector) -> tuple[np.ndarray, np.ndarray]:
    """One box per product: NMS at the model's IoU, then the model's own nested-box rule."""
    if not len(boxes):
        return boxes, conf
    xywh = np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]
    keep = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), conf.tolist(), 0.0, det.card.iou_threshold),
                      np.int64).reshape(-1)
    boxes, conf, xywh = boxes[keep], conf[keep], xywh[keep]  # sorted by score, best first
    if det.card.contain_threshold is not None and len(boxes) > 1:
        nested = nested_in_higher(xywh, det.card.contain_threshold, det.card.keep_layers)
        boxes, conf = boxes[~nested], conf[~nested]
    return boxes, conf


def evaluate(model: Path, grid: int, overlap: float) -> dict[str, dict]:
    """The plain run and the tiled run on the labelled real val photos, side by side."""
    from shared import accuracy
    from shared.imaging import read_header
    from training import label_real

    names = label_real.labelled("val")
    if not names:
        raise SystemExit(f"no labelled val photos in {label_real.LABELS}")
    photos = [(label_real.real_dir() / "images" / f"{n}.jpg").read_bytes() for n in names]
    det = Detector(model, threads=1)
    served = det.conf
    out = {}
    for name, run in (("plain", None), (f"tiled {grid}x{grid}+whole, overlap {overlap}", (grid, overlap))):
        det.conf = 0.001  # every box, for mAP; the served threshold is applied by the metrics
        preds = []
        for n, data in zip(names, photos, strict=True):
            if run is None:
                found = det.detect(data)
                b = np.array([d.box for d in found], np.float32).reshape(-1, 4)
                c = np.array([d.confidence for d in found], np.float32)
            else:
                b, c = detect_tiled(det, data, *run)
            header = read_header(data)
            truth = accuracy.load_labels(label_real.LABELS / f"{n}.txt", header.width, header.height)
            preds.append((b, c, np.zeros(len(b), int), truth))
        det.conf = served
        t0 = time.perf_counter()
        for data in photos:
            det.detect(data) if run is None else detect_tiled(det, data, *run)
        ms = (time.perf_counter() - t0) * 1e3 / len(photos)
        m = accuracy.metrics({"photos": preds, "classes": det.classes, "card_threshold": served})
        out[name] = {**m, "ms_per_photo": round(ms, 1)}
        print(f"{model.stem}, {name}: {len(names)} photos, mAP50 {m['map50']:.3f}; at {served}: precision "
              f"{m['precision']:.3f}, recall {m['recall']:.3f}, count error per photo {m['count_error']:.3f}; "
              f"{ms:.0f} ms a photo (1 thread)")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.tiling", description=(__doc__ or "").splitlines()[0])
    p.add_argument("model", nargs="?", type=Path, default=None, help="default: the model serving accurate")
    p.add_argument("--grid", type=int, default=2)
    p.add_argument("--overlap", type=float, default=0.25)
    args = p.parse_args(argv)
    if args.model is None:
        from training.label_real import served_models

        args.model = served_models()[0][0]
    evaluate(args.model, args.grid, args.overlap)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
