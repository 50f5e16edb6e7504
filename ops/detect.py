"""``shelfwatch detect PHOTO...``: the served detector on local photos, without the farm.

Prints a table of counts per photo (``--json`` for the machine-readable form, the same
detection shape as the API); ``--annotate DIR`` writes each photo with its boxes drawn.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from shared import registry
from shared.annotate import annotated_jpeg
from shared.detector import Detector, counts_of
from shared.settings import Settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("photos", nargs="+", type=Path)
    p.add_argument("--model", type=Path, default=None, help="an ONNX file with its card (default: the registry's)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--mode", choices=list(registry.MODES), default=registry.DEFAULT_MODE)
    p.add_argument("--json", action="store_true", help="print JSON: detections, counts, model version")
    p.add_argument("--annotate", type=Path, default=None, metavar="DIR",
                   help="write <photo>.annotated.jpg with the boxes drawn into DIR")


def run(args: argparse.Namespace, s: Settings) -> int:
    spec = registry.resolve(s.models_dir, args.model or s.model_path)[args.mode]
    det = Detector(spec.model, threads=args.threads, input_size=spec.input_size)
    if args.annotate:
        args.annotate.mkdir(parents=True, exist_ok=True)
    photos: list[dict] = []
    for path in args.photos:
        t0 = time.perf_counter()
        try:
            data = path.read_bytes()
            found = det.detect(data)
        except (OSError, ValueError) as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            photos.append({"path": str(path), "error": str(exc)})
            continue
        entry: dict[str, object] = {"path": str(path), "detections": [d.to_dict() for d in found],
                                    "counts": counts_of(found), "ms": round((time.perf_counter() - t0) * 1e3, 1)}
        if args.annotate:
            out = args.annotate / f"{path.stem}.annotated.jpg"
            out.write_bytes(annotated_jpeg(data, [d.box for d in found]))
            entry["annotated"] = str(out)
        photos.append(entry)
    if args.json:
        print(json.dumps({"photos": photos, "model_version": det.version}))
    else:
        print(table(photos, det.version))
    return 0 if all("error" not in p for p in photos) else 1


def table(photos: list[dict], version: str) -> str:
    classes = sorted({c for p in photos for c in p.get("counts", {})}) or ["product"]
    head = f"{'photo':<32} " + " ".join(f"{c:>9}" for c in classes) + f" {'ms':>7}  annotated"
    lines = [f"model {version}", head, "-" * len(head)]
    for p in photos:
        name = Path(p["path"]).name
        if "error" in p:
            lines.append(f"{name:<32} error: {p['error']}")
            continue
        counts = " ".join(f"{p['counts'].get(c, 0):>9}" for c in classes)
        lines.append(f"{name:<32} {counts} {p['ms']:>7.1f}  {p.get('annotated', '')}")
    return "\n".join(lines)
