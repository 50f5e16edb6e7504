"""What the phone's camera does to a drawn shelf: light, glare, shadow, blur, noise and
perspective. Part of the synthetic shelves (``training/synth.py``).
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    H, W = img.shape[:2]
    f = img.astype(np.float32)
    # uneven light: a smooth gain field, plus a vignette
    gain = cv2.resize(rng.uniform(0.6, 1.25, (3, 3)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    r = ((xx / W - 0.5) ** 2 + (yy / H - 0.5) ** 2) * rng.uniform(0.2, 1.2)
    f *= (gain * (1 - r))[:, :, None]
    # colour cast
    f *= rng.uniform(0.85, 1.15, 3)[None, None, :].astype(np.float32)
    # glare from the ceiling lights
    for _ in range(int(rng.integers(0, 3))):
        g = np.zeros((H, W), np.float32)
        cv2.ellipse(g, (int(rng.integers(0, W)), int(rng.integers(0, H))),
                    (int(W * rng.uniform(0.05, 0.3)), int(H * rng.uniform(0.02, 0.1))),
                    float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(60, 180)), -1)
        f += cv2.GaussianBlur(g, (0, 0), W * 0.03)[:, :, None]
    # a shadow band
    if rng.random() < 0.4:
        x0 = int(rng.integers(0, W))
        pts = np.array([[x0, 0], [x0 + int(W * rng.uniform(0.1, 0.4)), 0],
                        [x0 + int(W * rng.uniform(0.0, 0.5)), H], [x0 - int(W * 0.1), H]], np.int32)
        s = np.ones((H, W), np.float32)
        cv2.fillConvexPoly(s, pts, float(rng.uniform(0.55, 0.85)))
        f *= cv2.GaussianBlur(s, (0, 0), W * 0.02)[:, :, None]
    img = np.clip(f, 0, 255).astype(np.uint8)
    # blur: defocus or hand shake
    k = rng.random()
    if k < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.6))
    elif k < 0.5:
        n = int(rng.integers(3, 9))
        kern = np.zeros((n, n), np.float32)
        angle = rng.uniform(0, math.pi)
        c = n // 2
        cv2.line(kern, (int(c - c * math.cos(angle)), int(c - c * math.sin(angle))),
                 (int(c + c * math.cos(angle)), int(c + c * math.sin(angle))), 1.0, 1)
        img = cv2.filter2D(img, -1, kern / max(kern.sum(), 1))
    # sensor noise
    noise = rng.normal(0, rng.uniform(1, 8), img.shape).astype(np.float32)
    return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def perspective(img, boxes, rng, strength: float):
    """A homography, as when the phone is not square to the shelf.

    The frame is filled from a quadrilateral *inside* the drawn canvas (its corners
    pulled inward), so every pixel comes from the drawing. Generator 1 moved the corners
    outward too and filled the frame's edges by reflection: mirror images of the edge
    products, never labelled, which taught the model that some products are background
    and scored its correct detections of them as false positives.
    """
    H, W = img.shape[:2]
    d = rng.uniform(0.0, strength)
    dst = np.array([[0, 0], [W, 0], [W, H], [0, H]], np.float32)
    inward = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], np.float32)
    src = (dst + rng.uniform(0, d, (4, 2)) * np.array([W, H], np.float32) * inward).astype(np.float32)
    M = cv2.getPerspectiveTransform(src, dst)
    out = cv2.warpPerspective(img, M, (W, H), borderMode=cv2.BORDER_REPLICATE)
    new = []
    for box in boxes:  # x0, y0, x1, y1, then any fields the caller carries along (an SKU id)
        x0, y0, x1, y1 = box[:4]
        corners = np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float32)
        pts = cv2.perspectiveTransform(corners, M)[0]
        nx0, ny0 = pts.min(0)
        nx1, ny1 = pts.max(0)
        area = (nx1 - nx0) * (ny1 - ny0)
        cx0, cy0, cx1, cy1 = max(0, nx0), max(0, ny0), min(W, nx1), min(H, ny1)
        if cx1 - cx0 > 2 and cy1 - cy0 > 2 and (cx1 - cx0) * (cy1 - cy0) > 0.4 * area:
            new.append([cx0, cy0, cx1, cy1, *box[4:]])
    return out, new
