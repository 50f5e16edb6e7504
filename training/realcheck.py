"""Sanity check of a model on real shelf photos that carry no product boxes.

    python -m training.realcheck --model models/shelfwatch-v1-int8.onnx \
        --photos $REAL_DATA_DIR/images --list $REAL_DATA_DIR/val.txt

Real shelf photos hold ~150 products on average (SKU-110K), so per-photo counts far
outside roughly 40-400 mean the model is missing products or counting price tags.
Where the photos carry shelf-row boxes (a ``labels/`` folder beside ``images/``, YOLO
format), two proxies compare models: the share of detections whose centre lies in a
labelled row (a precision proxy: floor, ceiling and signs are outside; unlabelled rows
lower it for every model alike) and the share of row area covered by detections (a
recall proxy). It writes the counts as JSON and a contact sheet of annotated photos.

The one real ground truth here: ``training/real_rows.json``, products counted by hand in
32 shelf rows of 16 val photos. Where the photos include those, the model's count in each
row (detections whose centre lies in it) is compared with the hand count.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from shared.detector import Detector
from shared.imaging import decode

PLAUSIBLE = (40, 400)
# On a photo whose products are labelled (val photos are labelled whole), the labels say what it
# holds: a count within this factor of theirs is plausible, whatever the range above says. The range
# was set before any photo had product boxes; the densest labelled val photo holds 324 products.
LABELLED_FACTOR = 2.0
HAND_COUNTS = Path("training") / "real_rows.json"  # relative to the working directory: the repository root


def plausible(count: int, labelled: int | None = None) -> bool:
    """Whether a shelf photo can hold ``count`` products: within ``LABELLED_FACTOR`` of its
    ``labelled`` products where they are known, else within ``PLAUSIBLE``."""
    if labelled:
        return labelled / LABELLED_FACTOR <= count <= labelled * LABELLED_FACTOR
    return PLAUSIBLE[0] <= count <= PLAUSIBLE[1]


def count_summary(counts: dict[str, int], labelled: dict[str, int] | None = None) -> dict:
    """Median, range, the share of photos with a plausible product count and the photos without
    one (``labelled``: products labelled per photo name, where known)."""
    labelled = labelled or {}
    values = list(counts.values())
    implausible = sorted(n for n, c in counts.items() if not plausible(c, labelled.get(n)))
    return {"count_median": statistics.median(values), "count_min": min(values), "count_max": max(values),
            "share_plausible": round(1 - len(implausible) / len(values), 3), "implausible": implausible}


def annotate(img: np.ndarray, boxes: list[tuple[float, float, float, float]], scale: float) -> np.ndarray:
    out = img.copy()
    for x1, y1, x2, y2 in boxes:
        cv2.rectangle(out, (int(x1 / scale), int(y1 / scale)), (int(x2 / scale), int(y2 / scale)), (0, 255, 0), 2)
    return out


def read_rows(label: Path, w: int, h: int) -> list[tuple[float, float, float, float]]:
    """Shelf-row boxes in pixels from a YOLO label file (empty if there is none)."""
    if not label.exists():
        return []
    rows = []
    for line in label.read_text().splitlines():
        parts = line.split()
        if len(parts) == 5:
            cx, cy, bw, bh = (float(v) for v in parts[1:])
            rows.append(((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h))
    return rows


def row_proxies(boxes: list, rows: list, w: int, h: int, grid: int = 4) -> tuple[float, float]:
    """(share of detection centres inside a row, share of row area covered by detections)."""
    inside = sum(any(r[0] <= (b[0] + b[2]) / 2 <= r[2] and r[1] <= (b[1] + b[3]) / 2 <= r[3] for r in rows)
                 for b in boxes)
    row_mask = np.zeros((h // grid + 1, w // grid + 1), bool)
    det_mask = np.zeros_like(row_mask)
    for mask, rects in ((row_mask, rows), (det_mask, boxes)):
        for x1, y1, x2, y2 in rects:
            mask[int(y1) // grid: int(y2) // grid + 1, int(x1) // grid: int(x2) // grid + 1] = True
    covered = (row_mask & det_mask).sum() / max(1, row_mask.sum())
    return inside / max(1, len(boxes)), float(covered)


def hand_count_errors(found: dict[str, list], hand_counts: dict | None = None) -> dict | None:
    """Count error against the hand-counted rows (default: ``HAND_COUNTS``) of the photos
    in ``found`` (name → boxes).

    Per row |found - counted| / counted (rows hold 10-40 products, so one product is
    3-10 %), its mean and median; per photo, the same over its rows together, which is
    closer to what a whole photo's count feels (a row's excess and another's shortfall
    cancel, as they do in a photo's total); and the signed error of the total over all rows.
    """
    rows: list[tuple[int, int, bool]] = []
    by_photo: dict[str, tuple[int, int]] = {}
    for r in (hand_counts or json.loads(HAND_COUNTS.read_text()))["rows"]:
        if r["photo"] not in found:
            continue
        x1, y1, x2, y2 = r["row"]
        n = sum(x1 <= (b[0] + b[2]) / 2 <= x2 and y1 <= (b[1] + b[3]) / 2 <= y2 for b in found[r["photo"]])
        rows.append((n, r["products"], r["confidence"] == "sure"))
        f, c = by_photo.get(r["photo"], (0, 0))
        by_photo[r["photo"]] = (f + n, c + r["products"])
    if not rows:
        return None
    errors = [abs(n - c) / c for n, c, _ in rows]
    sure = [e for e, (*_, ok) in zip(errors, rows, strict=True) if ok]
    total_found, total_counted = sum(n for n, *_ in rows), sum(c for _, c, _ in rows)
    return {"rows": len(rows), "mean_row_error": round(statistics.mean(errors), 3),
            "median_row_error": round(statistics.median(errors), 3),
            "mean_row_error_sure_rows": round(statistics.mean(sure), 3) if sure else None,
            "photos": len(by_photo),
            "mean_photo_error": round(statistics.mean(abs(f - c) / c for f, c in by_photo.values()), 3),
            "found": total_found, "counted": total_counted,
            "total_error": round((total_found - total_counted) / total_counted, 3)}


def hand_count_errors_by_set(found: dict[str, list], hand_counts: dict | None = None) -> dict[int, dict | None]:
    """``hand_count_errors`` for each set of hand counts on its own (set 2 was counted with
    no model's boxes in sight, so it is the cleaner check of the two)."""
    doc = hand_counts or json.loads(HAND_COUNTS.read_text())
    sets = sorted({r["set"] for r in doc["rows"]})
    return {s: hand_count_errors(found, {**doc, "rows": [r for r in doc["rows"] if r["set"] == s]}) for s in sets}


def real_photos(folder: Path, listing: Path | None) -> list[Path]:
    """The photos of ``folder``, or those a split file (one name or path per line) names."""
    if not listing:
        return sorted(folder.glob("*.jpg"))
    names = [Path(ln.strip()).name for ln in listing.read_text().splitlines() if ln.strip()]
    return [folder / n for n in names if (folder / n).exists()]


def threshold_for_density(model: Path, photos: list[Path], density: float,
                          grid=np.arange(0.1, 0.71, 0.025)) -> tuple[float, dict]:
    """The confidence threshold at which the median count on unlabelled real photos is
    closest to a known product density (prior matching; no product boxes needed).

    Synthetic val photos choose a threshold for synthetic shelves; on real photos the
    model is less sure of itself and that threshold undercounts. SKU-110K documents ~147
    products per photo on average, so the threshold whose median count is nearest that
    figure is the best available without product labels. Use training photos only.
    """
    det = Detector(model, threads=1, conf_threshold=float(grid[0]))
    confs = [np.array([d.confidence for d in det.detect(p.read_bytes())]) for p in photos]
    medians = {round(float(t), 3): float(np.median([(c >= t).sum() for c in confs])) for t in grid}
    best = min(medians, key=lambda t: abs(medians[t] - density))
    return best, medians


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
    ap.add_argument("--conf", type=float, default=None, help="confidence threshold (default: the card's)")
    ap.add_argument("--input-size", type=int, default=None, help="letterbox size (default: the card's)")
    ap.add_argument("--hand-counts", type=Path, default=HAND_COUNTS, help="the hand-counted rows (JSON)")
    args = ap.parse_args()
    photos = real_photos(args.photos, args.list)
    det = Detector(args.model, threads=1, conf_threshold=args.conf, input_size=args.input_size)
    args.out.mkdir(parents=True, exist_ok=True)
    counts, tiles, in_rows, coverage, ms, boxes = {}, [], [], [], [], {}
    for i, p in enumerate(photos):
        data = p.read_bytes()
        t0 = time.perf_counter()
        found = det.detect(data)
        ms.append((time.perf_counter() - t0) * 1000)
        counts[p.name] = len(found)
        boxes[p.name] = [d.box for d in found]
        shown = decode(data)  # EXIF-rotated, as the boxes are
        w, h = shown.width, shown.height
        rows = read_rows(p.parent.parent / "labels" / (p.stem + ".txt"), w, h)
        if rows:
            share_in, covered = row_proxies([d.box for d in found], rows, w, h)
            in_rows.append(share_in)
            coverage.append(covered)
        if i < args.sheet:
            tiles.append(annotate(shown.image, [d.box for d in found], 1.0))
    hand_counts = json.loads(args.hand_counts.read_text())
    summary = {
        "model_version": det.version, "photos": len(counts), **count_summary(counts),
        "plausible_range": PLAUSIBLE, "median_ms_per_photo_1thread": round(statistics.median(ms), 1),
        "rows_labelled_photos": len(in_rows),
        "median_share_in_rows": round(statistics.median(in_rows), 3) if in_rows else None,
        "median_row_coverage": round(statistics.median(coverage), 3) if coverage else None,
        "hand_counted_rows": hand_count_errors(boxes, hand_counts),
        "hand_counted_rows_by_set": hand_count_errors_by_set(boxes, hand_counts),
        "counts": counts,
    }
    (args.out / "counts.json").write_text(json.dumps(summary, indent=1))
    if tiles:
        cv2.imwrite(str(args.out / "sheet.jpg"), contact_sheet(tiles), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(json.dumps({k: v for k, v in summary.items() if k != "counts"}))


if __name__ == "__main__":
    main()
