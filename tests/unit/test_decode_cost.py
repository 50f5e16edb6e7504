"""The decode bench compares decoders on the same photos at the DCT scale the worker uses."""

from __future__ import annotations

import cv2
import numpy as np

from devtools.bench import decode_cost
from shared.imaging import dct_factor


def _jpeg(w: int, h: int) -> bytes:
    rng = np.random.default_rng(w)
    img = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (9, 9), 0)
    return cv2.imencode(".jpg", img)[1].tobytes()


def test_the_dct_factor_keeps_the_long_side_at_least_the_target():
    assert dct_factor(1600, 640) == 2  # 800 >= 640, 400 would not be
    assert dct_factor(4000, 640) == 4  # a 12 MP photo: 1000
    assert dct_factor(6000, 640) == 8  # 750
    assert dct_factor(1200, 640) == 1
    assert dct_factor(1600, None) == 1  # no target: full size


def test_every_available_decoder_is_timed_and_gives_the_same_size():
    photos = [_jpeg(1600, 1200), _jpeg(1200, 1600)]
    out = decode_cost.run(photos, rounds=1)
    assert out["factors"] == [2]
    assert out["same_sizes"] is True
    assert "opencv" in out["ms_per_photo"]
    assert out["vs_opencv"]["opencv"] == 1.0
    # each other decoder is either timed or reported missing, never silently dropped
    for name in ("simplejpeg", "pyturbojpeg"):
        assert (name in out["ms_per_photo"]) != (name in out["missing"])
