"""Photos for people: the gateway's ``annotated.jpg`` and ``photo`` (no metadata, at most
``max_side``), and ``shelfwatch detect --annotate``.

A 12 MP phone photo is not decoded at full size to draw boxes on it: JPEGs are decoded by
libjpeg at 1/2-1/8 scale down to about ``max_side`` pixels (see ``imaging.decode``) and
the boxes are scaled to match, so a view costs a few tens of ms, not a full decode.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from shared.imaging import decode

GREEN = (0, 220, 0)
RED = (30, 30, 230)


def draw(image: np.ndarray, boxes: Iterable[tuple[float, float, float, float]], scale: float = 1.0,
         color: tuple[int, int, int] = GREEN) -> np.ndarray:
    """Draw boxes given in original-photo pixels on ``image``, whose pixels are ``scale`` of those."""
    thickness = max(1, round(max(image.shape[:2]) / 600))
    for x1, y1, x2, y2 in boxes:
        p1 = (round(x1 * scale), round(y1 * scale))
        p2 = (round(x2 * scale), round(y2 * scale))
        cv2.rectangle(image, p1, p2, color, thickness)
    return image


def scaled(photo: bytes, max_side: int) -> tuple[np.ndarray, float]:
    """The photo decoded (EXIF rotation applied) at most about ``max_side`` on its long side,
    and the factor from original-photo pixels to these."""
    decoded = decode(photo, target_size=max_side)
    image = decoded.image
    long_side = max(image.shape[:2])
    if long_side > max_side:  # PNG/WebP, or a JPEG between two libjpeg scales
        r = max_side / long_side
        image = cv2.resize(image, (round(image.shape[1] * r), round(image.shape[0] * r)),
                           interpolation=cv2.INTER_AREA)
    return image, image.shape[1] / decoded.width


def jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode the photo")
    return buf.tobytes()


def annotated_jpeg(photo: bytes, boxes: Iterable[tuple[float, float, float, float]], max_side: int = 1600,
                   quality: int = 85, gaps: Iterable[tuple[float, float, float, float]] = ()) -> bytes:
    """The photo, at most about ``max_side`` on its long side, with the boxes (green) and the
    out-of-stock gaps (red) drawn; JPEG bytes."""
    image, scale = scaled(photo, max_side)
    draw(image, gaps, scale, RED)
    return jpeg(draw(image, boxes, scale), quality)
