"""Product boxes on real shelf photos, made by correcting the model's proposals.

    python -m training.label_real propose NAME [NAME ...] [--conf 0.1] [--dedupe IOU]   # proposals to review
    python -m training.label_real apply NAME [NAME ...]                  # proposals + corrections → labels
    python -m training.label_real agree NAME --second DIR                # two passes' agreement (box F1)
    python -m training.label_real evaluate [MODEL ...] [--size N] [--labels DIR] [--held-out] [--json OUT]
    python -m training.label_real calibrate MODEL [--size N ...] [--write]   # threshold per size, held-out photos

The real photos (``REAL_DATA_DIR``, the sku110k-shelf folder: ``images/``, ``train.txt``,
``val.txt``) stay outside the repository, and so does everything cut from them (the review
sheets, under ``--work``, default ``build/label-real``). What the project keeps is its own
work: the corrections (``training/labels_real/NAME.json``: proposals rejected by number,
boxes added in photo pixels) and the labels they make (``training/labels_real/NAME.txt``,
YOLO ``class cx cy w h``, class 0 = product). The rule for what one product is:
``docs/labelling.md``.

Corrections: ``reject`` (numbers), ``reject_regions`` (boxes in photo pixels holding no
product: every proposal centred in one goes, unless its number is in ``keep``), ``split``
(``[number, rows, cols]``: a proposal drawn around a stack cut into equal units), ``add``
(boxes in photo pixels) and ``add_grid`` (``[x1, y1, x2, y2, rows, cols]``: a stack drawn
whole by hand and cut into its units). ``propose`` runs the served ``accurate`` model at a
low threshold (``--conf``, default 0.1: the reviewer rejects, which is quicker than
drawing) and writes, per photo, the
proposals (JSON) and a review sheet: every proposal cut out with a margin of context, its
box drawn, its number and confidence printed, in reading order (rows from the top, left to
right), plus an overview of the whole photo with the numbers and the photo in overlapping
horizontal strips at full resolution, every box numbered, with a pixel grid to read an
added box's corners from. ``--dedupe IOU`` drops a proposal overlapping a more confident
one (class-agnostic): the model's per-class NMS leaves two or three proposals on one
product at a low threshold; the corrections record it with the proposals they were made on. ``apply`` keeps every
proposal not rejected, adds the added boxes and writes the label file. ``agree`` compares
this pass's labels with a second, independent pass's (another ``--labels`` folder) by a
one-to-one match at IoU 0.5: the agreement figure of the labelling rule.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "training" / "labels_real"


def real_dir() -> Path:
    return Path(os.environ.get("REAL_DATA_DIR", "/work/shared/data/sku110k-shelf"))


def split_of(name: str, real: Path) -> str:
    """``train`` or ``val`` as the folder's lists say (labels never cross the split)."""
    for split in ("train", "val"):
        listing = real / f"{split}.txt"
        if listing.exists() and any(Path(line.strip()).stem == name for line in listing.read_text().splitlines()):
            return split
    raise SystemExit(f"{name} is in neither train.txt nor val.txt of {real}")


def reading_order(boxes: np.ndarray) -> list[int]:
    """Indices of ``boxes`` by shelf row from the top, then left to right (``shared.analytics.rows``)."""
    from shared.analytics import rows

    row_of = rows(boxes)
    return sorted(range(len(boxes)), key=lambda i: (row_of[i], float(boxes[i, 0])))


def sheet(image: np.ndarray, boxes: np.ndarray, conf: np.ndarray, tile: int = 150, cols: int = 8,
          first: int = 0) -> np.ndarray:
    """Each box cut out with half its size of context around it, box drawn, number and confidence printed
    (numbered from ``first``)."""
    tiles = []
    h, w = image.shape[:2]
    for k, (b, c) in enumerate(zip(boxes, conf, strict=True), start=first):
        x1, y1, x2, y2 = b
        mx, my = 0.5 * (x2 - x1), 0.5 * (y2 - y1)
        cx1, cy1 = int(max(0, x1 - mx)), int(max(0, y1 - my))
        cx2, cy2 = int(min(w, x2 + mx)), int(min(h, y2 + my))
        cx1, cy1 = min(cx1, w - 1), min(cy1, h - 1)  # a degenerate (zero-size) proposal still gets a tile
        cx2, cy2 = max(cx2, cx1 + 1), max(cy2, cy1 + 1)
        crop = image[cy1:cy2, cx1:cx2].copy()
        cv2.rectangle(crop, (int(x1 - cx1), int(y1 - cy1)), (int(x2 - cx1), int(y2 - cy1)), (0, 255, 0), 2)
        s = tile / max(crop.shape[:2])
        crop = cv2.resize(crop, (max(1, int(crop.shape[1] * s)), max(1, int(crop.shape[0] * s))))
        cell = np.full((tile + 20, tile, 3), 255, np.uint8)
        cell[: crop.shape[0], : crop.shape[1]] = crop
        cv2.putText(cell, f"{k} {c:.2f}", (2, tile + 15), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 200), 1)
        tiles.append(cell)
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    rows_ = [np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]
    return np.vstack(rows_)


def overview(image: np.ndarray, boxes: np.ndarray, long_side: int = 1400) -> np.ndarray:
    """The photo with every numbered box, for what the sheet cannot show: products no box covers."""
    s = long_side / max(image.shape[:2])
    out = cv2.resize(image, (int(image.shape[1] * s), int(image.shape[0] * s)))
    for k, b in enumerate(boxes * s):
        cv2.rectangle(out, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), (0, 255, 0), 1)
        cv2.putText(out, str(k), (int(b[0]) + 1, int(b[1]) + 10), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 255), 1)
    return out


def strips(image: np.ndarray, boxes: np.ndarray, band: int = 300, overlap: int = 60, halves: int = 2,
           zoom: float = 1.6) -> list[np.ndarray]:
    """The photo in overlapping bands (``halves`` side by side per band), enlarged ``zoom`` times, every
    box drawn and numbered, and a pixel grid (a tick and its photo coordinate every 50 px) to read an
    added box's corners from. Bands top to bottom, each band's pieces left to right."""
    h, w = image.shape[:2]
    width = -(-w // halves) + overlap if halves > 1 else w
    lefts = [min(max(0, k * (w // halves) - overlap // 2), max(0, w - width)) for k in range(halves)]
    out, top = [], 0
    while True:
        bottom = min(h, top + band)
        for left in lefts:
            right = min(w, left + width)
            crop = cv2.resize(image[top:bottom, left:right], None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)

            def at(x: float, y: float, left: int = left, top: int = top) -> tuple[int, int]:
                return int((x - left) * zoom), int((y - top) * zoom)

            for x in range((left + 49) // 50 * 50, right, 50):
                cv2.line(crop, at(x, top), (at(x, top)[0], 8), (255, 255, 0), 1)
                cv2.putText(crop, str(x), (at(x, top)[0] + 2, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1)
            for y in range((top + 49) // 50 * 50, bottom, 50):
                cv2.line(crop, (0, at(left, y)[1]), (10, at(left, y)[1]), (255, 255, 0), 1)
                cv2.putText(crop, str(y), (12, at(left, y)[1] + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1)
            for k, b in enumerate(boxes):
                if b[3] <= top or b[1] >= bottom or b[2] <= left or b[0] >= right:
                    continue
                p1, p2 = at(b[0], b[1]), at(b[2], b[3])
                cv2.rectangle(crop, p1, p2, (0, 255, 0), 1)
                tx, ty = max(p1[0], 0) + 2, max(p1[1], 0) + 16
                (tw, th), _ = cv2.getTextSize(str(k), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
                cv2.rectangle(crop, (tx - 1, ty - th - 2), (tx + tw + 1, ty + 3), (0, 0, 0), -1)
                cv2.putText(crop, str(k), (tx, ty), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
            out.append(crop)
        if bottom >= h:
            return out
        top = bottom - overlap


def dedupe(boxes: np.ndarray, conf: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by a class-agnostic greedy NMS at ``iou`` (the model's own NMS is per class
    and looser, so at a low threshold one product often has two or three proposals)."""
    from shared.accuracy import iou_matrix

    order = list(np.argsort(-conf))
    m = iou_matrix(boxes, boxes) if len(boxes) else np.zeros((0, 0))
    kept: list[int] = []
    for i in order:
        if all(m[i, j] < iou for j in kept):
            kept.append(int(i))
    return np.array(sorted(kept), int)


def propose(names: list[str], conf: float, work: Path, dedupe_iou: float | None = None) -> None:
    from shared.detector import Detector
    from shared.registry import load

    real = real_dir()
    model = ROOT / "models" / load(ROOT / "models")["modes"]["accurate"]["model"]
    det = Detector(model, threads=1, conf_threshold=conf)
    work.mkdir(parents=True, exist_ok=True)
    for name in names:
        split_of(name, real)
        path = real / "images" / f"{name}.jpg"
        found = det.detect(path.read_bytes())
        boxes = np.array([d.box for d in found], np.float32).reshape(-1, 4)
        confs = np.array([d.confidence for d in found], np.float32)
        if dedupe_iou is not None:
            kept = dedupe(boxes, confs, dedupe_iou)
            boxes, confs = boxes[kept], confs[kept]
        order = reading_order(boxes) if len(boxes) else []
        boxes, confs = boxes[order], confs[order]
        image = cv2.imread(str(path))
        if image is None:
            raise SystemExit(f"{path} cannot be read")
        (work / f"{name}.proposals.json").write_text(json.dumps({
            "photo": name, "model": det.version, "conf": conf, "dedupe": dedupe_iou,
            "width": image.shape[1], "height": image.shape[0],
            "boxes": [[round(float(v), 1) for v in b] for b in boxes],
            "confidence": [round(float(c), 3) for c in confs]}))
        page = 48  # 8 x 6 tiles a page: each tile large enough to judge a partly hidden facing
        for p, start in enumerate(range(0, len(boxes), page), start=1):
            cv2.imwrite(str(work / f"{name}.sheet-{p:02d}.png"),
                        sheet(image, boxes[start:start + page], confs[start:start + page], first=start))
        cv2.imwrite(str(work / f"{name}.overview.png"), overview(image, boxes))
        for k, strip in enumerate(strips(image, boxes), start=1):
            cv2.imwrite(str(work / f"{name}.strip-{k:02d}.png"), strip)
        print(f"{name}: {len(boxes)} proposals at conf >= {conf} → {work}/{name}.sheet-NN.png, .overview.png, "
              ".strip-NN.png")


def split_box(box: list[float], rows: int, cols: int) -> list[list[float]]:
    """``box`` cut into ``rows`` × ``cols`` equal boxes (a stack of ``rows`` units, ``cols`` wide)."""
    x1, y1, x2, y2 = map(float, box)
    w, h = (x2 - x1) / cols, (y2 - y1) / rows
    return [[x1 + i * w, y1 + j * h, x1 + (i + 1) * w, y1 + (j + 1) * h] for j in range(rows) for i in range(cols)]


def apply(names: list[str], work: Path, labels: Path = LABELS) -> None:
    for name in names:
        prop = json.loads((work / f"{name}.proposals.json").read_text())
        fix = json.loads((labels / f"{name}.json").read_text())
        # a region of the photo that holds no product (the floor, a wall): every proposal centred in it goes
        regions = [tuple(map(float, r)) for r in fix.get("reject_regions", [])]
        reject = set(fix.get("reject", [])) | {
            k for k, b in enumerate(prop["boxes"])
            if any(r[0] <= (b[0] + b[2]) / 2 <= r[2] and r[1] <= (b[1] + b[3]) / 2 <= r[3] for r in regions)}
        keep = set(fix.get("keep", []))  # kept whatever region it is centred in
        reject -= keep
        unknown = reject - set(range(len(prop["boxes"])))
        if unknown:
            raise SystemExit(f"{name}: rejected numbers not among the proposals: {sorted(unknown)}")
        if fix.get("ignore_regions") and split_of(name, real_dir()) != "train":
            raise SystemExit(f"{name}: ignore_regions on a val photo: a val photo is labelled whole (they are "
                             "for training, where the region is painted grey)")
        made_on = {"model": prop["model"], "conf": prop["conf"], "n": len(prop["boxes"])}
        if prop.get("dedupe") is not None:
            made_on["dedupe"] = prop["dedupe"]
        if fix.get("proposals") not in (None, made_on):
            raise SystemExit(f"{name}: the corrections were made on other proposals ({fix['proposals']})")
        # a proposal drawn around a stack (or a row of units): its box cut into rows x cols equal units
        splits = {int(n): (int(r), int(c)) for n, r, c in fix.get("split", [])}
        unknown = (set(splits) - set(range(len(prop["boxes"])))) | (set(splits) & reject)
        if unknown:
            raise SystemExit(f"{name}: split numbers not among the kept proposals: {sorted(unknown)}")
        kept: list[list[float]] = []
        for k, b in enumerate(prop["boxes"]):
            if k in reject:
                continue
            kept += split_box(b, *splits[k]) if k in splits else [b]
        kept += [list(map(float, b)) for b in fix.get("add", [])]
        for *box, rows, cols in fix.get("add_grid", []):  # a stack drawn whole, then cut into its units
            kept += split_box(box, int(rows), int(cols))
        w, h = prop["width"], prop["height"]
        lines = [f"0 {(b[0] + b[2]) / 2 / w:.6f} {(b[1] + b[3]) / 2 / h:.6f} {(b[2] - b[0]) / w:.6f} "
                 f"{(b[3] - b[1]) / h:.6f}" for b in kept]
        (labels / f"{name}.txt").write_text("\n".join(lines) + "\n")
        image = cv2.imread(str(real_dir() / "images" / f"{name}.jpg"))
        if image is not None:  # the labels as they now stand, to look over once more
            cv2.imwrite(str(work / f"{name}.labels.png"), overview(image, np.array(kept, np.float32).reshape(-1, 4)))
        added = len(fix.get("add", [])) + sum(int(g[4]) * int(g[5]) for g in fix.get("add_grid", []))
        print(f"{name}: {len(prop['boxes'])} proposals, {len(reject)} rejected, {len(splits)} split, "
              f"{added} added → {len(kept)} products ({labels / (name + '.txt')})")


def read_labels(path: Path, w: int, h: int) -> np.ndarray:
    rows_ = [list(map(float, line.split()[1:])) for line in path.read_text().splitlines() if line.strip()]
    a = np.array(rows_, np.float32).reshape(-1, 4)
    return np.stack([(a[:, 0] - a[:, 2] / 2) * w, (a[:, 1] - a[:, 3] / 2) * h,
                     (a[:, 0] + a[:, 2] / 2) * w, (a[:, 1] + a[:, 3] / 2) * h], 1)


def agree(names: list[str], second: Path, labels: Path = LABELS,
          sizes: dict[str, tuple[int, int]] | None = None) -> float:
    """Mean box F1 between two passes' labels of the same photos (``sizes``: name → (w, h), else read)."""
    from shared.imaging import read_header
    from shared.tuning import box_f1

    scores = []
    for name in names:
        if sizes and name in sizes:
            w, h = sizes[name]
        else:
            header = read_header((real_dir() / "images" / f"{name}.jpg").read_bytes())
            w, h = header.width, header.height
        f1 = box_f1(read_labels(labels / f"{name}.txt", w, h), read_labels(second / f"{name}.txt", w, h))
        scores.append(f1)
        print(f"{name}: box F1 between the two passes {f1:.3f}")
    mean = float(np.mean(scores))
    print(f"agreement over {len(names)} photos: mean box F1 {mean:.3f}")
    return mean


def labelled(split: str, labels: Path = LABELS, real: Path | None = None) -> list[str]:
    """The photos of ``split`` (the real folder's list) that have labels."""
    real = real or real_dir()
    if not (real / f"{split}.txt").exists():
        return []
    names = [Path(line.strip()).stem for line in (real / f"{split}.txt").read_text().splitlines() if line.strip()]
    return [n for n in names if (labels / f"{n}.txt").exists()]


def judged(names: list[str], photos: list, labels: Path = LABELS) -> list:
    """``photos`` (``accuracy.predict_set``'s (boxes, conf, cls, truth) per photo) with every box,
    predicted or labelled, centred in one of its photo's ``ignore_regions`` dropped: the part a
    labeller left unjudged scores neither a hit, a miss nor a false positive. Val photos have
    none (they are labelled whole), so their figures are unchanged."""
    out = []
    for name, (boxes, conf, cls, truth) in zip(names, photos, strict=True):
        fix = labels / f"{name}.json"
        regions = json.loads(fix.read_text()).get("ignore_regions", []) if fix.exists() else []
        keep, keep_truth = _outside(boxes, regions), _outside(truth[:, 1:], regions)
        out.append((boxes[keep], conf[keep], cls[keep], truth[keep_truth]))
    return out


def _outside(boxes: np.ndarray, regions: list[list[float]]) -> np.ndarray:
    """Which of ``boxes`` (x1, y1, x2, y2) are centred outside every region."""
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    inside = np.zeros(len(boxes), bool)
    for x1, y1, x2, y2 in regions:
        inside |= (cx >= x1) & (cx <= x2) & (cy >= y1) & (cy <= y2)
    return ~inside


def trained_on(model: Path) -> set[str]:
    """The labelled real photos ``model`` was taught on: its card's ``data.real.names``, else
    those its training config pins; none for a model taught on no labelled real photos. A
    model taught on real labels without a list of them (the folder as it stood) cannot say
    which are held out: an error (SystemExit), never a guess."""
    import yaml

    card = json.loads(Path(model).with_suffix(".json").read_text())
    real = (card.get("data") or {}).get("real") or {}
    if "names" in real:
        return set(real["names"])
    config = ROOT / card["config_file"] if card.get("config_file") else None
    if config is not None and config.exists():
        pinned = ((yaml.safe_load(config.read_text()) or {}).get("data") or {}).get("real") or {}
        if "names" in pinned:
            return set(pinned["names"])
    if real:
        raise SystemExit(f"{Path(model).name} was taught on the labelled folder as it stood, without a list of "
                         "its photos: which are held out is unknown")
    return set()


def held_out(taught: set[str], labels: Path = LABELS, real: Path | None = None) -> list[str]:
    """The calibration photos not among ``taught`` (``trained_on``'s answer for a model): labelled
    train photos whose corrections say ``"calibration": true``, taken in the train list's order to
    choose thresholds with. A photo labelled for training (chosen for what a model gets wrong, such
    as stacks) is no sample of shelves even where a model was not taught on it, so it never counts."""
    def marked(name: str) -> bool:
        fix = labels / f"{name}.json"
        return fix.exists() and bool(json.loads(fix.read_text()).get("calibration"))

    return [n for n in labelled("train", labels, real) if n not in taught and marked(n)]


def evaluate(models: list[tuple[Path, int | None]], split: str = "val", labels: Path = LABELS,
             names: list[str] | None = None) -> dict[str, dict]:
    """Each (model, input size) on the labelled photos of ``split`` (or ``names`` of them):
    mAP50, mAP50-95, precision, recall and per-photo count error at its served threshold; the
    false positives there split into off the shelf (centred in a region the corrections
    reject: floor, wall, side unit) and on it; the count error at a threshold chosen on the
    other photos (leave one out); and ms per photo (1 thread, JPEG to boxes at the served
    threshold). Count errors are over the photos with products (``shared.accuracy.at_threshold``);
    the unjudged parts of train photos are left out (``judged``)."""
    import time

    from shared import accuracy
    from shared.detector import Detector

    names = names if names is not None else labelled(split, labels)
    if not names:
        raise SystemExit(f"no labelled {split} photos in {labels}")
    images = [real_dir() / "images" / f"{n}.jpg" for n in names]
    regions = [json.loads((labels / f"{n}.json").read_text()).get("reject_regions", [])
               if (labels / f"{n}.json").exists() else [] for n in names]
    data = [p.read_bytes() for p in images]  # for the timing, read once for every model
    out = {}
    for model, size in models:
        pred = accuracy.predict_set(model, images, labels, input_size=size)
        pred = {**pred, "photos": judged(names, pred["photos"], labels)}
        m = accuracy.metrics(pred)
        off = on = missed = 0
        per_photo = {}
        for n, (boxes, conf, cls, truth), rs in zip(names, pred["photos"], regions, strict=True):
            keep = conf >= m["conf_threshold"]
            hit = accuracy.match(boxes[keep], conf[keep], truth[:, 1:])[:, 0]
            missed += len(truth) - int(hit.sum())
            one = accuracy.metrics({**pred, "photos": [(boxes, conf, cls, truth)]}) if len(truth) else {}
            per_photo[n] = {"products": len(truth), "found": int(keep.sum()), "map50": one.get("map50"),
                            "recall": one.get("recall"), "count_error": one.get("count_error")}
            for b in boxes[keep][~hit]:
                cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
                if any(r[0] <= cx <= r[2] and r[1] <= cy <= r[3] for r in rs):
                    off += 1
                else:
                    on += 1
        loo = []  # the threshold chosen on the other photos, the count error on this one
        for i in range(len(names)) if len(names) > 1 else []:
            rest = {**pred, "photos": [p for j, p in enumerate(pred["photos"]) if j != i]}
            if not len(pred["photos"][i][3]) or not any(len(p[3]) for p in rest["photos"]):
                continue
            loo.append(accuracy.metrics({**pred, "photos": [pred["photos"][i]]},
                                        accuracy.best_threshold(rest))["count_error"])
        det = Detector(model, threads=1, input_size=size)
        det.detect(data[0])
        t0 = time.perf_counter()
        for d in data:
            det.detect(d)
        ms = (time.perf_counter() - t0) * 1e3 / len(data)
        name = model.stem + (f"@{size}" if size else "")
        out[name] = {**m, "per_photo": per_photo,
                     "false_positives_off_shelf": off, "false_positives_on_shelf": on, "missed": missed,
                     "count_error_leave_one_out": round(float(np.mean(loo)), 4) if loo else None,
                     "ms_per_photo": round(ms, 1)}
        print(f"{name} on {len(names)} labelled {split} photos ({m['objects']} products): mAP50 "
              f"{m['map50']:.3f} (mAP50-95 {m['map50_95']:.3f}: flattered where the labels are its own boxes); "
              f"at {m['conf_threshold']}: precision {m['precision']:.3f}, recall {m['recall']:.3f}, count error "
              f"per photo {m['count_error']:.3f}; false positives {off} off the shelf, {on} on it; {missed} "
              f"missed; count error at a threshold chosen on the other photos "
              f"{out[name]['count_error_leave_one_out']}; {ms:.0f} ms a photo")
        for n, r in per_photo.items():
            print(f"  {n}: {r['products']} products, {r['found']} found" + (
                f", mAP50 {r['map50']:.3f}, recall {r['recall']:.3f}, count error {r['count_error']:.3f}"
                if r["products"] else " (negatives only)"))
    return out


def choose_threshold(per_photo: dict[float, list[float]]) -> float:
    """The threshold to serve from each candidate threshold's per-photo count errors (every list
    in the same photo order): the lowest threshold whose mean error exceeds the lowest mean by no
    more than one standard error of the two thresholds' per-photo differences. A dozen photos
    leave the curve flat near its bottom, and its lowest point moves with the next photo labelled
    (v15 at 1024 px: 0.3 on eight photos, 0.35 on thirteen, 0.063 against 0.068); among the
    thresholds the photos cannot tell apart, the lowest keeps the most recall, which empty-gap
    detection and stacked units (a model's least sure boxes) need. The photos are compared in
    pairs, one threshold against the other on the same photo: a photo the model gets wrong at
    every threshold (a cooler door, a case wall seen at an angle) widens the spread of the errors
    but says nothing about which threshold is better. Until the seventh round the rule took the
    standard error of the best threshold's errors themselves; two such photos among 26 widened it
    enough to choose 0.25 for v15 at 1024 px against 0.3, count error 0.129 against 0.106 (docs/model.md)."""
    means = {t: float(np.mean(e)) for t, e in per_photo.items() if len(e)}
    if not means:
        raise ValueError("no photo with products to choose a threshold on")
    lowest = min(means, key=lambda t: means[t])
    best = np.asarray(per_photo[lowest], dtype=float)

    def within(t: float) -> bool:
        diff = np.asarray(per_photo[t], dtype=float) - best
        se = float(np.std(diff, ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        return float(diff.mean()) <= se + 1e-12

    return min(t for t in means if within(t))


def calibrate(model: Path, sizes: list[int | None], labels: Path = LABELS, write: bool = False,
              min_photos: int = 5, taught: set[str] | None = None,
              grid=np.arange(0.1, 0.71, 0.025)) -> dict[int, dict]:
    """The confidence threshold to serve ``model`` at, per input size, chosen on the calibration
    photos it was not taught on (``held_out``), their unjudged parts left out: the lowest threshold
    whose mean per-photo count error is within one standard error of the lowest mean
    (``choose_threshold``). A model is surer of itself on the
    photos it was taught on (v14 at 800 px: their best threshold 0.30, held-out photos' 0.25),
    so those would choose too high a threshold; val photos would make the val figures a
    threshold's own fit. With ``write``, the card (and the registry's copy of it) records it
    in ``conf_thresholds`` (and ``conf_threshold`` at the card's own size). ``taught``: the
    photos it was taught on, where its card does not say yet (a build in progress)."""
    from shared import accuracy

    card_path = Path(model).with_suffix(".json")
    card = json.loads(card_path.read_text())
    names = held_out(trained_on(model) if taught is None else taught, labels)
    if len(names) < min_photos:
        raise SystemExit(f"{Path(model).name}: {len(names)} labelled train photos held out of its training "
                         f"(need {min_photos}); label more (docs/labelling.md)")
    images = [real_dir() / "images" / f"{n}.jpg" for n in names]
    out = {}
    for size in sizes:
        size = size or int(card["input_size"])
        pred = accuracy.predict_set(model, images, labels, input_size=size)
        photos = judged(names, pred["photos"], labels)
        per_photo = {round(float(t), 3): [accuracy.photo_count_error(k, truth, t)
                                          for _, k, _, truth in photos if len(truth)] for t in grid}
        # the mean of these is shared.accuracy.at_threshold's count error, without matching boxes again
        errors = {t: round(float(np.mean(e)), 4) if e else 0.0 for t, e in per_photo.items()}
        best, lowest = choose_threshold(per_photo), min(errors, key=lambda t: errors[t])
        m = accuracy.metrics({**pred, "photos": photos}, best)
        out[size] = {"threshold": best, "count_error": errors[best], "map50": m["map50"],
                     "precision": m["precision"], "recall": m["recall"], "photos": len(names),
                     "objects": m["objects"], "lowest_error_threshold": lowest, "count_error_by_threshold": errors}
        shown = ", ".join(f"{t}: {e:.3f}" for t, e in errors.items() if abs(t - best) <= 0.1)
        print(f"{card['version']}@{size} on {len(names)} held-out labelled train photos ({m['objects']} products "
              f"judged): threshold {best} (count error {errors[best]:.3f}, the lowest {errors[lowest]:.3f} at "
              f"{lowest}; mAP50 {m['map50']:.3f}, precision {m['precision']:.3f}, recall {m['recall']:.3f}); "
              f"count error by threshold: {shown}")
    if write:
        thresholds = {**card.get("conf_thresholds", {}), **{str(z): r["threshold"] for z, r in out.items()}}
        card["conf_thresholds"] = dict(sorted(thresholds.items(), key=lambda kv: int(kv[0])))
        if str(card["input_size"]) in thresholds:
            card["conf_threshold"] = thresholds[str(card["input_size"])]
        card["threshold_choice"] = (
            f"per input size, the lowest threshold within one standard error of the lowest mean per-photo count error "
            f"on the {len(names)} calibration photos not taught ({', '.join(names)}), unjudged parts left out "
            f"(python -m training.label_real calibrate)")
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        from shared import registry

        if registry.registry_path(card_path.parent).exists():
            reg = registry.load(card_path.parent)
            entry = reg.get("versions", {}).get(card["version"])
            if entry is not None and "card" in entry:
                entry["card"] = card
                registry.save(card_path.parent, reg)
        print(f"{card_path}: conf_thresholds {card['conf_thresholds']}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.label_real", description=(__doc__ or "").splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("propose")
    p.add_argument("names", nargs="+")
    p.add_argument("--conf", type=float, default=0.1)
    p.add_argument("--dedupe", type=float, default=None, metavar="IOU",
                   help="drop proposals overlapping a more confident one at this IoU (class-agnostic)")
    p.add_argument("--work", type=Path, default=ROOT / "build" / "label-real")
    a = sub.add_parser("apply")
    a.add_argument("names", nargs="+")
    a.add_argument("--work", type=Path, default=ROOT / "build" / "label-real")
    a.add_argument("--labels", type=Path, default=LABELS,
                   help="the folder of the corrections and the labels (a second pass keeps its own)")
    g = sub.add_parser("agree")
    g.add_argument("names", nargs="+")
    g.add_argument("--second", type=Path, required=True)
    g.add_argument("--labels", type=Path, default=LABELS, help="the first pass's folder")
    e = sub.add_parser("evaluate")
    e.add_argument("models", nargs="*", type=Path, help="model files (default: those the registry serves)")
    e.add_argument("--split", default="val", choices=["train", "val"])
    e.add_argument("--size", type=int, action="append", default=None,
                   help="input size(s) to run MODELs at (repeat; default: each file's own)")
    e.add_argument("--labels", type=Path, default=LABELS,
                   help="the labels folder (another one holds, say, an earlier round's val photos only)")
    e.add_argument("--json", type=Path, default=None, help="also write the figures here")
    e.add_argument("--held-out", action="store_true",
                   help="score the labelled train photos each model was not taught on instead")
    c = sub.add_parser("calibrate")
    c.add_argument("model", type=Path)
    c.add_argument("--size", type=int, action="append", default=None, help="input size(s) (default: the card's)")
    c.add_argument("--write", action="store_true", help="record the thresholds in the card and the registry")
    c.add_argument("--json", type=Path, default=None, help="also write the figures here")
    c.add_argument("--labels", type=Path, default=LABELS, help="the labels folder")
    c.add_argument("--min-photos", type=int, default=5, help="refuse with fewer held-out photos than this")
    args = ap.parse_args(argv)
    if args.cmd == "propose":
        propose(args.names, args.conf, args.work, args.dedupe)
    elif args.cmd == "apply":
        apply(args.names, args.work, args.labels)
    elif args.cmd == "evaluate":
        runs = [(m, z) for m in args.models for z in (args.size or [None])] or served_models()
        out: dict = {}
        if args.held_out:
            for model, size in runs:
                out |= evaluate([(model, size)], "train", args.labels, held_out(trained_on(model), args.labels))
        else:
            out = evaluate(runs, args.split, args.labels)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(out, indent=1))
    elif args.cmd == "calibrate":
        calibrated = calibrate(args.model, args.size or [None], args.labels, args.write, args.min_photos)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(calibrated, indent=1))
    else:
        agree(args.names, args.second, args.labels)
    return 0


def served_models() -> list[tuple[Path, int | None]]:
    """The (model file, input size) the registry serves for accurate and fast, once each."""
    from shared.registry import load

    modes = load(ROOT / "models")["modes"]
    return list(dict.fromkeys((ROOT / "models" / modes[m]["model"], modes[m].get("input_size"))
                              for m in ("accurate", "fast") if m in modes))


if __name__ == "__main__":
    raise SystemExit(main())
