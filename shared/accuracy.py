"""Accuracy of an ONNX model through the serving detector (``shared.detector``).

Used by training (the build's evaluation, the promotion gate), the benchmarks, and the
workers' accuracy watch on the labelled validation set in the bucket.

mAP50 and mAP50-95 (COCO-style, 101-point interpolated AP, averaged over classes),
precision and recall at the served confidence threshold, and the per-photo **count
error** |found - true| / true, which is what users feel. Evaluating through the
serving code means preprocessing, NMS and box mapping are part of what is measured.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shared.detector import Detector, intersections
from shared.imaging import read_header

IOUS = np.linspace(0.5, 0.95, 10)


def load_labels(label_path: Path, width: int, height: int) -> np.ndarray:
    """YOLO txt → (n, 5) array of class, x1, y1, x2, y2 in pixels."""
    if not label_path.exists():
        return np.zeros((0, 5), np.float32)
    rows = [list(map(float, ln.split()[:5])) for ln in label_path.read_text().splitlines() if ln.strip()]
    a = np.array(rows, np.float32).reshape(-1, 5)
    out = np.empty_like(a)
    out[:, 0] = a[:, 0]
    out[:, 1] = (a[:, 1] - a[:, 3] / 2) * width
    out[:, 2] = (a[:, 2] - a[:, 4] / 2) * height
    out[:, 3] = (a[:, 1] + a[:, 3] / 2) * width
    out[:, 4] = (a[:, 2] + a[:, 4] / 2) * height
    return out


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter = intersections(a, b)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


def match(pred: np.ndarray, conf: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(n_pred, 10) booleans: is each prediction a true positive at each IoU threshold.

    Greedy by confidence, each truth matched at most once per threshold.
    """
    tp = np.zeros((len(pred), len(IOUS)), bool)
    if len(pred) == 0 or len(truth) == 0:
        return tp
    ious = iou_matrix(pred, truth)
    order = np.argsort(-conf)
    for t, thr in enumerate(IOUS):
        used = np.zeros(len(truth), bool)
        for i in order:
            cand = np.where(~used & (ious[i] >= thr))[0]
            if len(cand):
                j = cand[ious[i, cand].argmax()]
                used[j] = True
                tp[i, t] = True
    return tp


def average_precision(tp: np.ndarray, conf: np.ndarray, n_truth: int) -> np.ndarray:
    """AP per IoU threshold, 101-point interpolation."""
    if n_truth == 0 or len(tp) == 0:
        return np.zeros(len(IOUS))
    order = np.argsort(-conf)
    tp = tp[order]
    ctp = np.cumsum(tp, 0)
    cfp = np.cumsum(~tp, 0)
    recall = ctp / n_truth
    precision = ctp / np.maximum(ctp + cfp, 1e-9)
    ap = np.zeros(len(IOUS))
    grid = np.linspace(0, 1, 101)
    for t in range(len(IOUS)):
        # COCO: at each recall level r, the best precision reached at recall >= r
        envelope = np.flip(np.maximum.accumulate(np.flip(precision[:, t])))
        idx = np.searchsorted(recall[:, t], grid, side="left")
        ap[t] = np.where(idx < len(envelope), envelope[np.minimum(idx, len(envelope) - 1)], 0.0).mean()
    return ap


def predict_set(model_path: Path, images: list[Path], labels_dir: Path, threads: int = 1,
                input_size: int | None = None) -> dict:
    """Run the model over a labelled set once; everything else is computed from this."""
    det = Detector(model_path, threads=threads, conf_threshold=0.001, verify=False, input_size=input_size)
    photos = []
    for img_path in images:
        data = Path(img_path).read_bytes()
        found = det.detect(data)
        header = read_header(data)
        truth = load_labels(labels_dir / (Path(img_path).stem + ".txt"), header.width, header.height)
        photos.append((np.array([d.box for d in found], np.float32).reshape(-1, 4),
                       np.array([d.confidence for d in found], np.float32),
                       np.array([d.class_id for d in found], int), truth))
    return {"photos": photos, "classes": det.classes, "card_threshold": det.threshold}


def metrics(pred: dict, conf_threshold: float | None = None) -> dict:
    """mAP over all confidences, and precision/recall/count error at the served threshold."""
    photos = pred["photos"]
    served = pred["card_threshold"] if conf_threshold is None else conf_threshold
    aps = []
    for c in range(len(pred["classes"])):
        tps, confs, n_truth = [], [], 0
        for boxes, conf, cls, truth in photos:
            t = truth[truth[:, 0] == c, 1:]
            sel = cls == c
            tps.append(match(boxes[sel], conf[sel], t))
            confs.append(conf[sel])
            n_truth += len(t)
        if n_truth:
            aps.append(average_precision(np.concatenate(tps), np.concatenate(confs), n_truth))
    ap = np.array(aps).reshape(-1, len(IOUS))
    simple = [(b, k, t) for b, k, _, t in photos]
    return {"map50": round(float(ap[:, 0].mean()), 4) if len(ap) else 0.0,
            "map50_95": round(float(ap.mean()), 4) if len(ap) else 0.0,
            **at_threshold(simple, served), "photos": len(photos),
            "objects": int(sum(len(t) for *_, t in photos))}


def evaluate(model_path: Path, images: list[Path], labels_dir: Path, conf_threshold: float | None = None,
             threads: int = 1) -> dict:
    return metrics(predict_set(model_path, images, labels_dir, threads), conf_threshold)


def photo_count_error(conf: np.ndarray, truth: np.ndarray, threshold: float) -> float:
    """One photo's count error at ``threshold``: |boxes kept - products| / products (a photo
    with products; ``truth`` holds one row per product)."""
    return abs(int((conf >= threshold).sum()) - len(truth)) / len(truth)


def at_threshold(photos: list[tuple[np.ndarray, np.ndarray, np.ndarray]], threshold: float) -> dict:
    """Precision, recall (IoU 0.5) and mean per-photo count error at one confidence threshold. The
    count error is over the photos with products: a photo labelled for its negatives alone has no
    count to be wrong by (its boxes are false positives, in the precision)."""
    tp = fp = fn = 0
    errors = []
    for boxes, conf, truth in photos:
        keep = conf >= threshold
        m = match(boxes[keep], conf[keep], truth[:, 1:])[:, 0]
        tp += int(m.sum())
        fp += int((~m).sum())
        fn += len(truth) - int(m.sum())
        if len(truth):
            errors.append(photo_count_error(conf, truth, threshold))
    return {"conf_threshold": threshold, "precision": round(tp / max(tp + fp, 1), 4),
            "recall": round(tp / max(tp + fn, 1), 4),
            "count_error": round(float(np.mean(errors)), 4) if errors else 0.0}


def best_threshold(pred: dict, grid=np.arange(0.1, 0.71, 0.025)) -> float:
    """The confidence threshold with the smallest mean count error on validation photos."""
    simple = [(b, k, t) for b, k, _, t in pred["photos"]]
    return round(float(min(grid, key=lambda t: at_threshold(simple, float(t))["count_error"])), 3)
