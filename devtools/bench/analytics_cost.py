"""What the shelf analytics cost the worker per photo, stage by stage, on real photos.

    python -m devtools.bench.analytics_cost [--photos DIR] [--limit 12] [--rounds 3]

The worker runs ``shared.batches.analyse_photo`` after each photo's detection (on the
model's decode halved to the analytics' size: rows, colour histograms, product groups,
empty-looking boxes, gaps). This detects
each photo once with the served ``accurate`` model (1 ONNX Runtime thread, outside the
timing), then times ``analyse_photo`` over all photos ``--rounds`` times, in turn from the
JPEG bytes (a second decode, the path before) and from the model's pixels, and prints the
median ms per photo of each and their ratio, with each stage timed apart once. The photos are read from
``--photos`` (default: ``REAL_DATA_DIR`` or /work/shared/data/sku110k-shelf, its
``images/``), never copied.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from shared import analytics
from shared.batches import analyse_photo
from shared.detector import Detector
from shared.imaging import decode
from shared.registry import load

ROOT = Path(__file__).resolve().parents[2]


def stages(photo: bytes, found: list) -> dict[str, float]:
    """ms of each step of ``analytics.analyse`` (plus the reduced decode) on one photo."""
    boxes = np.array([d.box for d in found], np.float32).reshape(-1, 4)
    conf = np.array([d.confidence for d in found], np.float32)
    out: dict[str, float] = {}

    def timed(name: str, f: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        result = f(*args, **kw)
        out[name] = (time.perf_counter() - t0) * 1e3
        return result

    small = timed("decode (reduced)", decode, photo, target_size=320)
    scale = 1 / small.scale_to_original
    row_of = timed("rows", analytics.rows, boxes)
    hsv = timed("to HSV", cv2.cvtColor, small.image, cv2.COLOR_BGR2HSV)
    hists = timed("histograms", lambda: [analytics._histogram(small.image, b * scale, hsv) for b in boxes])
    timed("groups", analytics.groups, boxes, row_of, small.image, scale, hists=hists)
    gray = cv2.cvtColor(small.image, cv2.COLOR_BGR2GRAY)
    empty = timed("empty-looking", analytics.looks_empty, gray, boxes * scale, row_of, conf)
    timed("gaps", analytics.gaps, boxes, row_of, empty=empty)
    return out


def main(argv: list[str] | None = None) -> int:
    from devtools.bench.upload_size import photos_dir

    ap = argparse.ArgumentParser(prog="python -m devtools.bench.analytics_cost",
                                 description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--photos", type=Path, default=None, help="folder of real shelf photos (or its images/)")
    ap.add_argument("--limit", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    args.photos = photos_dir(args.photos)
    names = sorted(args.photos.glob("*.jpg"))[: args.limit]
    if not names:
        raise SystemExit(f"no .jpg photos in {args.photos}")
    model = ROOT / "models" / load(ROOT / "models")["modes"]["accurate"]["model"]
    det = Detector(model, threads=1)
    photos = [p.read_bytes() for p in names]
    found, pixels = [], []
    for p in photos:
        found.append(det.detect(p))
        pixels.append(det.last_decoded[0])  # what the worker hands the analytics: the model's decode
    # side by side, in turn: from the JPEG bytes (a second, reduced decode) and from the model's pixels
    rounds: dict[str, list[float]] = {"from the JPEG": [], "from the model's decode": []}
    for _ in range(args.rounds):
        for name, inputs in (("from the JPEG", photos), ("from the model's decode", pixels)):
            t0 = time.perf_counter()
            for photo, f in zip(inputs, found, strict=True):
                analyse_photo(photo, f)
            rounds[name].append((time.perf_counter() - t0) * 1e3 / len(photos))
    per_stage: dict[str, list[float]] = {}
    for photo, f in zip(photos, found, strict=True):
        for name, ms in stages(photo, f).items():
            per_stage.setdefault(name, []).append(ms)
    print(f"{len(photos)} photos ({det.version}), {statistics.mean(len(f) for f in found):.0f} boxes each on average")
    for name, times in rounds.items():
        print(f"analyse_photo {name}: median {statistics.median(times):.1f} ms per photo over {args.rounds} "
              f"rounds ({', '.join(f'{r:.1f}' for r in times)})")
    saved = statistics.median(rounds["from the JPEG"]) / statistics.median(rounds["from the model's decode"])
    print(f"reusing the model's decode: {saved:.2f}x less analytics time per photo")
    print("stages, mean ms per photo: " + ", ".join(f"{k} {statistics.mean(v):.1f}" for k, v in per_stage.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
