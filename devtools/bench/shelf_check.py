"""Does ``shared.plausibility.not_a_shelf`` tell shelf photos from everything else?

    python -m devtools.bench.shelf_check [--photos DIR] [--out build/bench/shelf_check.json]

Runs each mode's serving detector (``models/registry.json``, built as the worker builds
it, 1 ORT thread by default) and the worker's ``analyse_photo`` on

* **shelf photos**, which must never be flagged: every real photo in ``--photos``
  (default: ``REAL_DATA_DIR`` or /work/shared/data/sku110k-shelf, its ``images/``; read,
  never copied), the same photos downscaled to a long side of 1024 px (what a phone
  uploads), every 8th of them degraded (blurred, darkened, shrunk to 640 px), and the
  repository's ``samples/*.jpg``;
* **non-shelf images**, generated here, deterministic by ``--seed``, at six sizes
  (4032×3024, 1600×1200, 1024×768, 640×480 and portrait 1200×1600, 768×1024):
  uniform, gaussian and blurred noise, solid colours, gradients, checkerboards, stripes,
  random rectangles, lines of random text, and a real shelf photo's pixels shuffled in
  32×32 tiles.

All images go to the detector as JPEG bytes (quality 90), as an upload would. Per
category and mode it prints the photos, their median detections, how many have at least
``MIN_DETECTIONS`` (the rest are never flagged: they report few products anyway) and how
many were flagged; then the range of each trait over shelf and non-shelf photos with
enough boxes, beside the thresholds, and the shelf photos closest to being flagged. The
CPU model and wall time go with it; everything, per photo, to the JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import string
import time
from collections.abc import Callable, Iterator
from operator import itemgetter
from pathlib import Path

import cv2
import numpy as np

from devtools.bench.main import machine
from devtools.bench.upload_size import detectors, photos_dir
from shared import plausibility
from shared.batches import analyse_photo
from shared.detector import Detector

SIZES = ((4032, 3024), (1600, 1200), (1024, 768), (640, 480), (1200, 1600), (768, 1024))
QUALITY = 90
PHONE_SIDE = 1024  # the real photos again, as a phone would upload them
DEGRADE_EVERY = 8  # every n-th real photo also blurred, darkened and shrunk

Maker = Callable[[np.random.Generator, int, int, np.ndarray | None], np.ndarray]


# --- non-shelf images (BGR, h×w×3) ------------------------------------------------------

def _uniform_noise(rng: np.random.Generator, w: int, h: int, real: np.ndarray | None) -> np.ndarray:
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _gaussian_noise(rng: np.random.Generator, w: int, h: int, real: np.ndarray | None) -> np.ndarray:
    return np.clip(rng.normal(128, 50, (h, w, 3)), 0, 255).astype(np.uint8)


def _blurred_noise(rng: np.random.Generator, w: int, h: int, real: np.ndarray | None) -> np.ndarray:
    sigma = float(rng.uniform(2, 8)) * max(w, h) / 1600
    img = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), sigma).astype(np.float32)
    return ((img - img.min()) * (255 / max(1.0, float(img.max() - img.min())))).astype(np.uint8)  # full contrast


def _solid(rng: np.random.Generator, w: int, h: int, real: np.ndarray | None) -> np.ndarray:
    return np.full((h, w, 3), rng.integers(0, 256, 3), np.uint8)


def _gradient(rng: np.random.Generator, w: int, h: int, real: np.ndarray | None) -> np.ndarray:
    a, b, angle = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3), rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = xx * np.cos(angle) + yy * np.sin(angle)
    t = ((t - t.min()) / max(1e-6, float(t.max() - t.min())))[..., None]
    return (a * (1 - t) + b * t).astype(np.uint8)


def _two_colours(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    img = np.empty((*mask.shape, 3), np.uint8)
    img[:] = rng.integers(0, 256, 3)
    img[mask] = rng.integers(0, 256, 3)
    return img


def _checkerboard(rng: np.random.Generator, w: int, h: int, real: np.ndarray | None) -> np.ndarray:
    cell = int(rng.integers(12, 120) * max(w, h) / 1600) + 1
    yy, xx = np.mgrid[0:h, 0:w]
    return _two_colours(rng, ((xx // cell + yy // cell) % 2).astype(bool))


def _stripes(rng: np.random.Generator, w: int, h: int, real: np.ndarray | None) -> np.ndarray:
    half = max(1, int(rng.integers(4, 80) * max(w, h) / 1600))
    yy, xx = np.mgrid[0:h, 0:w]
    axis = (xx, yy, xx + yy)[int(rng.integers(3))]  # vertical, horizontal, diagonal
    return _two_colours(rng, (axis // half) % 2 == 0)


def _rectangles(rng: np.random.Generator, w: int, h: int, real: np.ndarray | None) -> np.ndarray:
    img = np.full((h, w, 3), rng.integers(0, 256, 3), np.uint8)
    for _ in range(int(rng.integers(30, 300))):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        rw, rh = int(rng.integers(w // 60, w // 6)), int(rng.integers(h // 60, h // 4))
        cv2.rectangle(img, (x, y), (x + rw, y + rh), rng.integers(0, 256, 3).tolist(), -1)
    return img


def _text(rng: np.random.Generator, w: int, h: int, real: np.ndarray | None) -> np.ndarray:
    img = np.full((h, w, 3), int(rng.integers(200, 256)), np.uint8)
    scale = float(rng.uniform(0.5, 1.6)) * w / 1000
    line = int(40 * scale) + 4
    letters = list(string.ascii_letters + string.digits + "     ")
    y = line
    while y < h:
        words = "".join(rng.choice(letters, int(w / (18 * scale + 1))))
        cv2.putText(img, words, (int(rng.integers(5, 40)), y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                    max(1, int(2 * scale)), cv2.LINE_AA)
        y += line + int(rng.integers(0, line))
    return img


def _shuffled(rng: np.random.Generator, w: int, h: int, real: np.ndarray | None, block: int = 32) -> np.ndarray:
    """A real shelf photo resized to w×h, its pixels shuffled in block×block tiles."""
    if real is None:
        raise ValueError("shuffling needs a real photo")
    img = cv2.resize(real, (w, h), interpolation=cv2.INTER_AREA)
    bh, bw = h // block, w // block
    grid = img[: bh * block, : bw * block].reshape(bh, block, bw, block, 3).swapaxes(1, 2)
    tiles = grid.reshape(-1, block, block, 3)[rng.permutation(bh * bw)]
    img[: bh * block, : bw * block] = tiles.reshape(bh, bw, block, block, 3).swapaxes(1, 2).reshape(
        bh * block, bw * block, 3)
    return img


KINDS: dict[str, Maker] = {
    "uniform noise": _uniform_noise, "gaussian noise": _gaussian_noise, "blurred noise": _blurred_noise,
    "solid colour": _solid, "gradient": _gradient, "checkerboard": _checkerboard, "stripes": _stripes,
    "rectangles": _rectangles, "text": _text, "shuffled 32px": _shuffled,
}


def jpeg(img: np.ndarray, quality: int = QUALITY) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encode failed")
    return buf.tobytes()


def shrink(img: np.ndarray, side: int) -> np.ndarray:
    r = side / max(img.shape[:2])
    return img if r >= 1 else cv2.resize(img, None, fx=r, fy=r, interpolation=cv2.INTER_AREA)


# --- the photo sets ---------------------------------------------------------------------------

SHELF = "shelf"
NON_SHELF = "non-shelf"


def shelf_photos(paths: list[Path], samples: list[Path]) -> Iterator[tuple[str, str, str, bytes]]:
    """(set, category, name, JPEG bytes) of every shelf photo: real, as uploaded, degraded, samples."""
    for k, path in enumerate(paths):
        data = path.read_bytes()
        yield SHELF, "real", path.name, data
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{path} cannot be decoded")
        yield SHELF, f"real at {PHONE_SIDE} px", path.name, jpeg(shrink(img, PHONE_SIDE))
        if k % DEGRADE_EVERY == 0:
            yield SHELF, "real blur sigma 4", path.name, jpeg(cv2.GaussianBlur(img, (0, 0), 4))
            yield SHELF, "real dark (×0.25)", path.name, jpeg(cv2.convertScaleAbs(img, alpha=0.25))
            yield SHELF, "real at 640 px", path.name, jpeg(shrink(img, 640))
    for path in samples:
        yield SHELF, "samples", path.name, path.read_bytes()


def non_shelf_images(paths: list[Path], seed: int, reps: int) -> Iterator[tuple[str, str, str, bytes]]:
    """(set, category, name, JPEG bytes) of every generated image, the same for the same seed."""
    for k, (kind, make) in enumerate(KINDS.items()):
        for s, (w, h) in enumerate(SIZES):
            for rep in range(reps):
                rng = np.random.default_rng([seed, k, s, rep])
                real = None
                if make is _shuffled:
                    if not paths:
                        continue
                    real = cv2.imread(str(paths[int(rng.integers(len(paths)))]), cv2.IMREAD_COLOR)
                yield NON_SHELF, kind, f"{kind.replace(' ', '-')}-{w}x{h}-{rep}", jpeg(make(rng, w, h, real))


# --- measuring -----------------------------------------------------------------------------------

def in_rows(analysis: dict | None, n: int) -> float | None:
    """Share of boxes in analytics rows of three facings or more (shown, not used by the rule)."""
    if not analysis or not n:
        return None
    return sum(r["facings"] for r in analysis["rows"] if r["facings"] >= 3) / n


def measure(items: Iterator[tuple[str, str, str, bytes]], dets: dict[str, Detector]) -> list[dict]:
    rows = []
    for k, (group, category, name, data) in enumerate(items, 1):
        for mode, det in dets.items():
            found = det.detect(data)
            analysis = analyse_photo(data, found)
            limits = det.shelf_limits  # the card's own limits at this size, as the worker reads them
            t = plausibility.traits(found, plausibility.limits_of(limits)[0])
            reason = plausibility.not_a_shelf(found, limits)
            rows.append({"set": group, "category": category, "photo": name, "mode": mode, "bytes": len(data),
                         "detections": t.detections, "confident_share": round(t.confident_share, 4),
                         "side_by_side": round(t.side_by_side, 4), "median_confidence": round(t.median_confidence, 4),
                         "rows": len(analysis["rows"]) if analysis else None,
                         "in_rows": None if (v := in_rows(analysis, t.detections)) is None else round(v, 4),
                         "flagged": reason is not None, "reason": reason})
        if k % 100 == 0:
            print(f"  {k} images", flush=True)
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    for (category, mode) in dict.fromkeys((r["category"], r["mode"]) for r in rows):
        mine = [r for r in rows if r["category"] == category and r["mode"] == mode]
        enough = [r for r in mine if r["detections"] >= plausibility.MIN_DETECTIONS]
        out.append({"set": mine[0]["set"], "category": category, "mode": mode, "photos": len(mine),
                    "median_detections": statistics.median(r["detections"] for r in mine),
                    "max_detections": max(r["detections"] for r in mine), "enough": len(enough),
                    "flagged": sum(r["flagged"] for r in mine)})
    return out


TRAITS = (("confident_share", f"share ≥ {plausibility.CONFIDENT:.1f} conf", plausibility.MAX_CONFIDENT_SHARE),
          ("side_by_side", "side-by-side share", plausibility.MAX_SIDE_BY_SIDE),
          ("median_confidence", "median confidence", None),
          ("in_rows", "in rows of ≥ 3 (analytics)", None))


def ranges(rows: list[dict]) -> dict:
    """Each trait's min and max per set and mode, over photos with enough boxes to be judged."""
    out: dict = {}
    for group in (SHELF, NON_SHELF):
        for mode in dict.fromkeys(r["mode"] for r in rows):
            mine = [r for r in rows if r["set"] == group and r["mode"] == mode
                    and r["detections"] >= plausibility.MIN_DETECTIONS]
            noise = [r for r in mine if r["category"].endswith("noise")]
            for label, sel in ((group, mine), (f"{group}: noise", noise if group == NON_SHELF else [])):
                if sel:
                    out.setdefault(label, {})[mode] = {
                        k: [min(r[k] for r in sel if r[k] is not None), max(r[k] for r in sel if r[k] is not None)]
                        for k, _, _ in TRAITS}
    return out


def table(summary: list[dict], rng: dict, rows: list[dict], limits: dict[str, tuple] | None = None) -> str:
    lines = [f"{'set':<9} {'category':<20} {'mode':<8} {'photos':>6} {'med det':>7} {'max det':>7} "
             f"{'≥' + str(plausibility.MIN_DETECTIONS) + ' det':>7} {'flagged':>7}"]
    for s in summary:
        lines.append(f"{s['set']:<9} {s['category']:<20} {s['mode']:<8} {s['photos']:>6} "
                     f"{s['median_detections']:>7.0f} {s['max_detections']:>7} {s['enough']:>7} {s['flagged']:>7}")
    lines.append("")
    lines.append(f"trait ranges over photos with ≥ {plausibility.MIN_DETECTIONS} detections (min–max); "
                 "flagged only when both of the first two are below their thresholds")
    lines.append(f"{'':<18} {'mode':<8} " + " ".join(f"{name:>26}" for _, name, _ in TRAITS))
    lines.append(f"{'threshold (<)':<18} {'':<8} " + " ".join(
        f"{(f'{thr:.2f}' if thr is not None else '–'):>26}" for _, _, thr in TRAITS))
    for mode, (confident, share, beside) in (limits or {}).items():  # a card's own limits (shelf_check)
        if (confident, share, beside) != plausibility.limits_of(None):
            lines.append(f"{'  its card (<)':<18} {mode:<8} {f'{share:.2f} (≥ {confident:.2f} conf)':>26} "
                         f"{f'{beside:.2f}':>26}")
    for label, per_mode in rng.items():
        for mode, vals in per_mode.items():
            lines.append(f"{label:<18} {mode:<8} " + " ".join(
                f"{f'{vals[k][0]:.2f} – {vals[k][1]:.2f}':>26}" for k, _, _ in TRAITS))
    lines.append("")
    shelf = [r for r in rows if r["set"] == SHELF and r["detections"] >= plausibility.MIN_DETECTIONS]
    for key, name, thr in TRAITS[:2]:
        low = sorted(shelf, key=itemgetter(key))[:3]
        lines.append(f"shelf photos lowest on {name} (threshold {thr:.2f}): " + "; ".join(
            f"{r['photo']} [{r['category']}, {r['mode']}] {r[key]:.2f} "
            f"(other trait {r['side_by_side' if key == 'confident_share' else 'confident_share']:.2f})" for r in low))
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=Path, default=None, help="folder of real shelf photos (or its images/)")
    p.add_argument("--samples", type=Path, default=Path("samples"), help="the repository's sample photos")
    p.add_argument("--out", type=Path, default=Path("build/bench/shelf_check.json"))
    p.add_argument("--seed", type=int, default=0, help="seed of the generated non-shelf images")
    p.add_argument("--reps", type=int, default=2, help="generated images per kind and size")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    args = p.parse_args()

    cv2.setNumThreads(args.threads)
    folder = photos_dir(args.photos)
    paths = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
    samples = sorted(args.samples.glob("*.jpg"))
    if not paths:
        print(f"no real photos in {folder}: only samples and generated images")
    host = machine()
    dets = detectors(args.threads)
    print(f"shelf check: {len(paths)} real photos from {folder}, {len(samples)} samples, "
          f"{len(KINDS)} generated kinds × {len(SIZES)} sizes × {args.reps} (seed {args.seed}); "
          f"CPU {host['cpu']} ({len(os.sched_getaffinity(0))} cores usable), {args.threads} ORT thread(s); "
          + ", ".join(f"{m}: {d.version} at {d.size}" for m, d in dets.items()))
    t0 = time.perf_counter()
    rows = measure(shelf_photos(paths, samples), dets)
    rows += measure(non_shelf_images(paths, args.seed, args.reps), dets)
    wall = time.perf_counter() - t0

    summary = summarise(rows)
    rng = ranges(rows)
    print(table(summary, rng, rows, {mode: plausibility.limits_of(det.shelf_limits) for mode, det in dets.items()}))
    false_flags = [r for r in rows if r["set"] == SHELF and r["flagged"]]
    print(f"shelf photos flagged: {len(false_flags)} of {sum(r['set'] == SHELF for r in rows)} (photo × mode)")
    print(f"wall {wall:.0f} s")

    report = {"machine": host, "threads": args.threads, "photos_dir": str(folder), "seed": args.seed,
              "reps": args.reps, "sizes": SIZES, "wall_s": round(wall, 1),
              "models": {m: {"version": d.version, "input_size": d.size} for m, d in dets.items()},
              "thresholds": {"min_detections": plausibility.MIN_DETECTIONS, "confident": plausibility.CONFIDENT,
                             "max_confident_share": plausibility.MAX_CONFIDENT_SHARE,
                             "max_side_by_side": plausibility.MAX_SIDE_BY_SIDE},
              "summary": summary, "ranges": rng, "false_flags": len(false_flags), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
