"""How far can a phone shrink a shelf photo before upload and keep the product counts?

    python -m devtools.bench.upload_size [--photos DIR] [--limit N] [--quality Q] [--out build/bench/upload_size.json]

The mobile page downscales each photo on the device (long side at most S, JPEG quality
0.9) before uploading. This measures what that costs in counts: for every photo it runs
the serving detector of each mode (``models/registry.json``, built exactly as the worker
builds it: ``shared.detector.Detector`` on the photo's bytes, which decodes with
``shared.imaging.decode`` and letterboxes to the mode's input size) on the original bytes
(the reference), then on the photo resized with ``cv2.INTER_AREA`` to each S below its
long side and re-encoded by ``cv2.imencode`` at ``--quality`` (default 90, the page's). Per mode and S it prints the
median upload size, the relative count error |count - reference| / reference (median and
90th percentile), the mean signed difference, and the share of photos within ±2 % of the
reference. A control row (``q90``) re-encodes the original at that quality without
resizing: the count jitter any re-encode causes, against which the S rows are read.
Per-photo rows and the summary go to the JSON file.

It measures agreement with the detector's own count on the original, not accuracy
against hand counts: the question is only what the downscale changes. The photos are
read from ``--photos`` (default: ``REAL_DATA_DIR`` or /work/shared/data/sku110k-shelf,
its ``images/``), never copied. Those stored photos are already downscaled to a long side
of 1600 px, so there only S = 1280, 1024 and 800 can be tested, not a 12 MP original.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from devtools.bench.main import machine, real_photos
from shared import registry
from shared.detector import Detector
from shared.imaging import read_header
from shared.settings import Settings

SIZES = (4032, 3024, 2560, 2048, 1600, 1280, 1024, 800)
QUALITY = 90  # the phone page's (api/pages/audit.js); --quality to try another
WITHIN = 0.02  # "keeps the count": within ±2 % of the reference
MAX_MEDIAN, MAX_P90 = 0.01, 0.03  # the recommendation's bar, in the serving mode


def photos_dir(arg: Path | None) -> Path:
    root = arg or Path(os.environ.get("REAL_DATA_DIR") or "/work/shared/data/sku110k-shelf")
    return root / "images" if (root / "images").is_dir() else root


def detectors(threads: int) -> dict[str, Detector]:
    """Each mode's serving detector, as ``workers.runtime`` builds it from the registry."""
    settings = Settings()
    specs = registry.resolve(settings.models_dir, settings.model_path)
    return {m: Detector(s.model, threads=threads, input_size=s.input_size) for m, s in specs.items()}


def shrink(data: bytes, side: int, quality: int = QUALITY) -> bytes:
    """What the phone uploads: long side ``side`` (INTER_AREA; not enlarged), JPEG ``quality``."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("photo cannot be decoded")
    h, w = img.shape[:2]
    r = side / max(h, w)
    small = img if r >= 1 else cv2.resize(img, (round(w * r), round(h * r)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encode failed")
    return buf.tobytes()


def timed_count(det: Detector, data: bytes) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = len(det.detect(data))
    return n, round((time.perf_counter() - t0) * 1e3, 1)


def measure(paths: list[Path], dets: dict[str, Detector], quality: int = QUALITY) -> list[dict]:
    rows = []
    for k, path in enumerate(paths, 1):
        data = path.read_bytes()
        head = read_header(data)
        long_side = max(head.width, head.height)
        # the original; the control (re-encoded, not resized); each S below the long side
        uploads = [("original", long_side, data), ("reencode", long_side, shrink(data, long_side, quality))]
        uploads += [("downscale", s, shrink(data, s, quality)) for s in SIZES if s < long_side]
        for mode, det in dets.items():
            ref, ref_ms = timed_count(det, data)
            for kind, s, blob in uploads:
                n, ms = (ref, ref_ms) if kind == "original" else timed_count(det, blob)
                rows.append({"photo": path.name, "mode": mode, "upload": kind, "size": s,
                             "width": head.width, "height": head.height, "bytes": len(blob), "count": n,
                             "reference": ref, "diff": n - ref, "rel_err": abs(n - ref) / ref if ref else None,
                             "ms": ms})
        print(f"  {k}/{len(paths)} {path.name}", end="\r", flush=True)
    print()
    return rows


def summarise(rows: list[dict], mode: str) -> list[dict]:
    """One row per S (the control first, as size 0), over photos with a non-zero reference."""
    mine = [r for r in rows if r["mode"] == mode and r["upload"] != "original" and r["rel_err"] is not None]
    groups = {0: [r for r in mine if r["upload"] == "reencode"]}
    groups |= {s: [r for r in mine if r["upload"] == "downscale" and r["size"] == s] for s in SIZES}
    out = []
    for s, group in groups.items():
        if not group:
            continue
        err = np.array([r["rel_err"] for r in group])
        out.append({"size": s, "photos": len(group),
                    "median_bytes": int(statistics.median(r["bytes"] for r in group)),
                    "median_rel_err": float(np.median(err)), "p90_rel_err": float(np.percentile(err, 90)),
                    "mean_diff": float(np.mean([r["diff"] for r in group])),
                    "share_within_2pct": float(np.mean(err <= WITHIN + 1e-12)),
                    "median_ms": float(statistics.median(r["ms"] for r in group))})
    return out


def recommend(summary: list[dict]) -> int | None:
    """The smallest S whose median relative count error ≤ 1 % and p90 ≤ 3 %."""
    ok = [r["size"] for r in summary if r["size"] and r["median_rel_err"] <= MAX_MEDIAN and r["p90_rel_err"] <= MAX_P90]
    return min(ok) if ok else None


def table(mode: str, det: Detector, summary: list[dict], originals: list[dict], quality: int = QUALITY) -> str:
    ref = [r for r in originals if r["mode"] == mode]
    lines = [f"mode {mode}: {det.version} at input {det.size}; reference median count "
             f"{statistics.median(r['reference'] for r in ref):.0f}, "
             f"median {statistics.median(r['ms'] for r in ref):.0f} ms",
             f"  {'S':>5} {'photos':>6} {'med bytes':>10} {'med rel err':>11} {'p90 rel err':>11} "
             f"{'mean diff':>9} {'within ±2%':>10} {'med ms':>7}"]
    for r in summary:
        lines.append(f"  {r['size'] or f'q{quality}':>5} {r['photos']:>6} {r['median_bytes']:>10,} "
                     f"{r['median_rel_err']:>11.2%} {r['p90_rel_err']:>11.2%} {r['mean_diff']:>+9.2f} "
                     f"{r['share_within_2pct']:>10.0%} {r['median_ms']:>7.0f}")
    untested = [s for s in SIZES if s not in {r["size"] for r in summary}]
    lines.append(f"  q{quality}: control, the original re-encoded at quality {quality} without resizing")
    if untested:
        lines.append(f"  not tested (not below any photo's long side): S = {', '.join(map(str, untested))}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=Path, default=None, help="folder of real shelf photos (or its images/)")
    p.add_argument("--limit", type=int, default=60, help="photos, spread over the folder sorted by name")
    p.add_argument("--out", type=Path, default=Path("build/bench/upload_size.json"))
    p.add_argument("--threads", type=int, default=Settings().ort_threads,
                   help="ONNX Runtime intra-op threads (default: the worker's ORT_THREADS)")
    p.add_argument("--quality", type=int, default=QUALITY, help=f"JPEG quality of the uploads (default {QUALITY})")
    args = p.parse_args()

    cv2.setNumThreads(args.threads)  # decode and resize on as many cores as the model, like a worker
    folder = photos_dir(args.photos)
    paths = real_photos(folder, args.limit)
    if not paths:
        raise SystemExit(f"no *.jpg photos in {folder}")
    host = machine()
    dets = detectors(args.threads)
    print(f"upload size vs counts: {len(paths)} photos from {folder}; CPU {host['cpu']} "
          f"({len(os.sched_getaffinity(0))} cores usable), {args.threads} ORT thread(s)")
    t0 = time.perf_counter()
    rows = measure(paths, dets, args.quality)
    wall = time.perf_counter() - t0

    originals = [r for r in rows if r["upload"] == "original"]
    first = [r for r in originals if r["mode"] == registry.DEFAULT_MODE]
    orig = {"median_width": statistics.median(r["width"] for r in first),
            "median_height": statistics.median(r["height"] for r in first),
            "median_long_side": statistics.median(max(r["width"], r["height"]) for r in first),
            "median_bytes": int(statistics.median(r["bytes"] for r in first))}
    print(f"originals: median {orig['median_width']:.0f}×{orig['median_height']:.0f} px "
          f"(long side {orig['median_long_side']:.0f}), median {orig['median_bytes']:,} bytes; "
          f"uploads: INTER_AREA + JPEG q{args.quality}")
    summary = {m: summarise(rows, m) for m in dets}
    for mode, det in dets.items():
        print(table(mode, det, summary[mode], originals, args.quality))
    picks = {m: recommend(s) for m, s in summary.items()}
    print(f"smallest S with median rel err ≤ {MAX_MEDIAN:.0%} and p90 ≤ {MAX_P90:.0%}: "
          + ", ".join(f"{m} {picks[m] or 'none'}" for m in dets) + f" (serving default: {registry.DEFAULT_MODE})")
    print(f"wall {wall:.0f} s")

    report = {"machine": host, "threads": args.threads, "photos_dir": str(folder), "photos": len(paths),
              "quality": args.quality, "sizes": SIZES, "wall_s": round(wall, 1), "originals": orig,
              "models": {m: {"version": d.version, "input_size": d.size} for m, d in dets.items()},
              "default_mode": registry.DEFAULT_MODE, "recommended_max_side": picks,
              "summary": summary, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
