"""What a model change costs a photo: models (each at an input size) in turn on the same photos.

    python -m devtools.bench.model_cost --photos ../shared/data/sku110k-shelf \\
        models/shelfwatch-v11-int8.onnx@640 models/shelfwatch-v14-int8.onnx@800

A promotion can change a mode's input size (v14 serves ``accurate`` at 800 px where v11
read 640), and the farm's capacity plan scales with the time a photo takes. Each round runs
every model over the same photos, JPEG bytes to detections, one ORT thread; the figure is
the median over rounds of each model's ms a photo, and of its ratio to the first model
within the round, which is what survives a noisy, shared machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from shared.detector import Detector


def parse(spec: str) -> tuple[Path, int | None]:
    """``models/x.onnx@800`` → (path, 800); no ``@``: the card's size."""
    path, _, size = spec.partition("@")
    return Path(path), int(size) if size else None


def run(models: list[tuple[Path, int | None]], photos: list[bytes], rounds: int = 3) -> dict:
    if not models or not photos:
        raise ValueError("need at least one model and one photo")
    dets = {}
    for m, size in models:
        det = Detector(m, threads=1, input_size=size)
        dets[f"{m.stem}@{det.size}"] = det
    for det in dets.values():
        det.detect(photos[0])  # warm-up: sessions, arenas
    ms: dict[str, list[float]] = {name: [] for name in dets}
    for _ in range(rounds):
        for name, det in dets.items():
            t0 = time.perf_counter()
            for data in photos:
                det.detect(data)
            ms[name].append((time.perf_counter() - t0) * 1e3 / len(photos))
    first = next(iter(dets))
    return {name: {"ms_per_photo": round(statistics.median(v), 1),
                   "ratio_to_first": round(statistics.median(a / b for a, b in zip(v, ms[first], strict=True)), 3)}
            for name, v in ms.items()}


def table(out: dict) -> str:
    """``run``'s figures, a line a model."""
    return "\n".join(f"{name:<36} {r['ms_per_photo']:7.1f} ms a photo  × {r['ratio_to_first']:.2f}"
                     for name, r in out.items())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m devtools.bench.model_cost", description=(__doc__ or "").splitlines()[0])
    p.add_argument("models", nargs="+", help="MODEL.onnx[@SIZE]; the first is the baseline of the ratios")
    p.add_argument("--photos", type=Path, required=True, help="a folder of shelf photos (or its images/)")
    p.add_argument("--limit", type=int, default=16, help="photos, the first by name")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("build/bench/model_cost.json"))
    args = p.parse_args(argv)
    folder = args.photos / "images" if (args.photos / "images").is_dir() else args.photos
    photos = [f.read_bytes() for f in sorted(folder.glob("*.jpg"))[: args.limit]]
    out = run([parse(s) for s in args.models], photos, args.rounds)
    print(table(out))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"photos": len(photos), "rounds": args.rounds, "models": out}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
