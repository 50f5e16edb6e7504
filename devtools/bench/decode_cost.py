"""JPEG decode at reduced scale: OpenCV (what ``shared.imaging.decode`` uses) against
simplejpeg and PyTurboJPEG, in turn, on the same photos at the same DCT scale factor.

All three call libjpeg(-turbo) and let it scale in the DCT (1/2, 1/4, 1/8), so the
question is only the binding's overhead and the library build. The photos: real shelf
photos as they are, and the same upscaled to ~12 MP (a phone's full size; made in memory,
``devtools.bench.timing.big_photos``). The other decoders are not project dependencies:
run this from a venv that has them (numpy, opencv-python-headless, simplejpeg,
PyTurboJPEG 1.x with the system's libturbojpeg 2.x, 2.x with 3.x); a decoder that is missing is reported so.

    PYTHONPATH=. VENV/bin/python -m devtools.bench.decode_cost --photos ../shared/data/sku110k-shelf
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from devtools.bench.timing import big_photos
from shared.imaging import dct_factor

TARGET = 640  # the model's input: the decode keeps the long side at least this


def decoders() -> dict[str, Callable[[bytes, int], np.ndarray] | str]:
    """Name → decode(data, factor) returning BGR pixels, or why it is not available."""
    reduced = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
               8: cv2.IMREAD_REDUCED_COLOR_8}

    def opencv(data: bytes, f: int) -> np.ndarray:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), reduced[f])
        if img is None:
            raise ValueError("a benchmark photo does not decode")
        return img

    out: dict[str, Callable[[bytes, int], np.ndarray] | str] = {"opencv": opencv}
    try:
        import simplejpeg

        def simple(data: bytes, f: int) -> np.ndarray:
            h, w = simplejpeg.decode_jpeg_header(data)[:2]
            return simplejpeg.decode_jpeg(data, colorspace="BGR", min_height=-(-h // f), min_width=-(-w // f))

        out["simplejpeg"] = simple
    except ImportError as exc:
        out["simplejpeg"] = f"not installed ({exc})"
    try:
        from turbojpeg import TJPF_BGR, TurboJPEG

        tj = TurboJPEG()
        out["pyturbojpeg"] = lambda data, f: tj.decode(data, pixel_format=TJPF_BGR, scaling_factor=(1, f))
    except (ImportError, OSError, RuntimeError) as exc:  # the wrapper, or the system's libturbojpeg, missing
        out["pyturbojpeg"] = f"not available ({exc})"
    return out


def run(photos: list[bytes], rounds: int) -> dict:
    """Median ms per photo of each decoder, decoders taking turns photo by photo, round after round."""
    found = decoders()
    available = {k: v for k, v in found.items() if callable(v)}
    missing = {k: v for k, v in found.items() if isinstance(v, str)}
    factors = []
    for data in photos:
        h, w = available["opencv"](data, 1).shape[:2]
        factors.append(dct_factor(max(w, h), TARGET))
    shapes = {}
    for name, dec in available.items():  # warm-up, and every decoder must give the same size
        shapes[name] = [dec(d, f).shape for d, f in zip(photos, factors, strict=True)]
    same = all(s == shapes["opencv"] for s in shapes.values())
    times: dict[str, list[float]] = {k: [] for k in available}
    for _ in range(rounds):
        for data, f in zip(photos, factors, strict=True):
            for name, dec in available.items():
                t = time.perf_counter()
                dec(data, f)
                times[name].append((time.perf_counter() - t) * 1e3)
    ms = {k: round(statistics.median(v), 2) for k, v in times.items()}
    return {"photos": len(photos), "factors": sorted(set(factors)), "same_sizes": same, "ms_per_photo": ms,
            "vs_opencv": {k: round(ms["opencv"] / v, 2) for k, v in ms.items()}, "missing": missing}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", type=Path, required=True, help="folder of real shelf photos (or its images/)")
    p.add_argument("--n", type=int, default=16, help="real photos (the first, by name)")
    p.add_argument("--big", type=int, default=4, help="of them, upscaled to ~12 MP as well")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    # not devtools.bench.upload_size.photos_dir: this file runs in a venv without the project's dependencies
    folder = args.photos / "images" if (args.photos / "images").is_dir() else args.photos
    real = [f.read_bytes() for f in sorted(folder.glob("*.jpg"))[: args.n]]
    if not real:
        p.error(f"no .jpg photos in {folder}")
    import os

    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})  # one core, as a worker process
    from shared.tuning import cpu_key

    out = {"cpu": cpu_key(), "opencv": cv2.__version__,
           "real": run(real, args.rounds), "12mp": run(big_photos(real, args.big), args.rounds)}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
