"""The gateway's memory for the largest legal request: about one photo, not the whole request.

A real gateway process (gunicorn, one worker) receives MAX_REQUEST_BYTES of photos, each
near MAX_PHOTO_BYTES; its worker's peak resident memory (VmHWM) is read before and after.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import requests

from tests.conftest import MODEL
from tests.integration.test_faults import children

MiB = 1024 * 1024


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def big_jpeg(size: int, seed: int, shape: tuple[int, int] = (2000, 3000)) -> bytes:
    """A real JPEG padded after its end marker to ``size`` bytes (decoders ignore the tail)."""
    noise = np.random.default_rng(seed).integers(0, 255, (*shape, 3), dtype=np.uint8)
    data = cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    assert len(data) < size
    return data + bytes(size - len(data))


def test_the_largest_legal_request_costs_the_gateway_about_one_photo(stack, api_key, tmp_path):
    from devtools import procs
    from devtools.stack import UNLIMITED, free_port

    limit, photo_max, n = 100 * MiB, 20 * MiB, 5
    port = free_port()
    env = {**os.environ, **stack.env(), **UNLIMITED, "ENV": "test", "MODEL_PATH": str(MODEL),
           "METRICS_DIR": str(tmp_path / "metrics"), "MAX_REQUEST_BYTES": str(limit),
           "MAX_PHOTO_BYTES": str(photo_max), "MAX_PHOTOS_PER_AUDIT": "50"}
    proc = procs.spawn(["api", "--port", str(port), "--workers", "1", "--threads", "2"], env, tmp_path / "api.log")
    base = f"http://127.0.0.1:{port}"
    try:
        procs.wait_ready(base, [proc])
        worker = children(proc.pid)[0]
        auth = {"Authorization": f"Bearer {api_key}"}
        small = big_jpeg(2 * MiB, 0, (400, 600))
        assert requests.post(f"{base}/v1/audits", headers=auth, data={"store_id": "mem"},
                             files=[("photos", ("w.jpg", small, "image/jpeg"))], timeout=60).status_code == 202
        before = peak_rss(worker)
        size = (limit - 64 * 1024) // n  # the multipart framing takes the rest
        photos = [("photos", (f"p{i}.jpg", big_jpeg(size, i + 1), "image/jpeg")) for i in range(n)]
        t0 = time.perf_counter()
        r = requests.post(f"{base}/v1/audits", headers=auth, data={"store_id": "mem"}, files=photos, timeout=120)
        took = time.perf_counter() - t0
        assert r.status_code == 202, r.text[:300]
        growth = peak_rss(worker) - before
        print(f"\n{n} photos of {size / MiB:.1f} MiB ({n * size / MiB:.0f} MiB): gateway worker peak RSS "
              f"+{growth / MiB:.0f} MiB (from {before / MiB:.0f} MiB) in {took:.1f} s")
        assert growth < 2.5 * size  # one photo held (and its copy on its way to S3), never all five
        over = requests.post(f"{base}/v1/audits", headers=auth, data={"store_id": "mem"}, timeout=60,
                             files=[*photos, ("photos", ("x.jpg", small, "image/jpeg"))])
        assert over.status_code == 413
        assert over.json()["code"] == "request_too_large"
    finally:
        procs.stop_gateway(proc)
