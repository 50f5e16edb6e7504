"""Timing helpers of the engine-benchmark children: durations, chunks, model-only calls, big photos."""

from __future__ import annotations

import functools
import math
import statistics
import time
from collections.abc import Callable

import numpy as np


def stats_ms(samples_s: list[float]) -> dict:
    """Median and p95 (nearest rank) of durations given in seconds, as ms."""
    ms = sorted(s * 1e3 for s in samples_s)
    p95 = ms[min(len(ms) - 1, max(0, math.ceil(0.95 * len(ms)) - 1))]
    return {"median": round(statistics.median(ms), 2), "p95": round(p95, 2), "n": len(ms)}


def time_chunks(run: Callable[[list[bytes]], object], photos: list[bytes], batch: int) -> dict:
    """Images/s and per-call latency of ``run`` over ``photos`` in chunks of ``batch``.

    The first chunk runs once untimed (session warm-up, lazy allocations).
    """
    chunks = [photos[i : i + batch] for i in range(0, len(photos), batch)]
    run(chunks[0])
    times = []
    for chunk in chunks:
        t = time.perf_counter()
        run(chunk)
        times.append(time.perf_counter() - t)
    n = sum(len(c) for c in chunks)
    return {"images_per_s": round(n / sum(times), 3), "per_image_ms": round(sum(times) * 1e3 / n, 2),
            "batch_ms": stats_ms(times), "images": n}


def time_calls(call: Callable[[], object], runs: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        call()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        call()
        out.append(time.perf_counter() - t)
    return out


def model_only(predict: Callable[[np.ndarray], object], x1: np.ndarray, batches: list[int], images: int) -> dict:
    """Model call alone on a fixed preprocessed photo: ms per call and per image, per batch."""
    out = {}
    for b in batches:
        xb = np.ascontiguousarray(np.repeat(x1, b, axis=0))
        times = time_calls(functools.partial(predict, xb), runs=max(3, images // b))
        s = stats_ms(times)
        out[str(b)] = {**s, "per_image_ms": round(s["median"] / b, 2)}
    return out


def big_photos(real: list[bytes], count: int, long_side: int = 4000) -> list[bytes]:
    """~12 MP JPEGs (4000×3000) made in memory by upscaling real photos: a phone's full size."""
    import cv2

    out = []
    for data in real[:count]:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError("a benchmark photo does not decode")
        h, w = img.shape[:2]
        size = (long_side, long_side * 3 // 4) if w >= h else (long_side * 3 // 4, long_side)
        big = cv2.resize(img, size, interpolation=cv2.INTER_CUBIC)
        out.append(cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    return out
