"""How one product looks: its outline and its printed face, procedural or real.

Part of the synthetic shelves (``training/synth.py`` lays the products out in rows). The
shape (box, bottle, can, bag, jar) only varies how a product is drawn: every product is
labelled ``product``. A real face (a crop from ``training/realfaces.py``) replaces the
procedural print.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SHAPES = ("box", "box", "box", "bottle", "can", "bag", "jar")
FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_PLAIN,
)
WORDS = ("BIO", "MAX", "CHOC", "MILK", "SOAP", "KIDS", "PLUS", "LIGHT", "FRESH", "COLA",
         "TEA", "RICE", "OAT", "VITA", "CLEAN", "NUTS", "ZERO", "GOLD", "MINI", "XL")


@dataclass
class Sku:
    """How one product looks; a row repeats it as several facings."""

    shape: str
    aspect: float  # width / height
    height: float  # fraction of the row's height
    colors: list[tuple[int, int, int]]
    pattern: int
    word: str
    font: int
    face: np.ndarray | None = None  # a real product's face (BGR crop); drawn instead of the procedural print


def color(rng: np.random.Generator) -> tuple[int, int, int]:
    if rng.random() < 0.2:  # white and pale packaging is common on real shelves
        v = int(rng.integers(200, 256))
        return (v, v - int(rng.integers(0, 20)), v - int(rng.integers(0, 20)))
    hsv = np.array([[[rng.integers(0, 180), rng.integers(40, 256), rng.integers(40, 256)]]], np.uint8)
    b, g, r = (int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])
    return b, g, r


def new_sku(rng: np.random.Generator, real_faces: float, faces: list[np.ndarray] | None) -> Sku:
    """A product to repeat as a block of facings; with ``real_faces`` of the time, a real face."""
    if faces and real_faces and rng.random() < real_faces:
        face = faces[int(rng.integers(len(faces)))]
        return Sku(shape="box", aspect=face.shape[1] / face.shape[0], height=rng.uniform(0.55, 0.95),
                   colors=[], pattern=5, word="", font=0, face=face)
    shape = SHAPES[rng.integers(len(SHAPES))]
    aspect = {
        "box": rng.uniform(0.35, 1.3),
        "bottle": rng.uniform(0.22, 0.42),
        "can": rng.uniform(0.5, 0.72),
        "bag": rng.uniform(0.6, 1.1),
        "jar": rng.uniform(0.6, 0.95),
    }[shape]
    return Sku(
        shape=shape,
        aspect=aspect,
        height=rng.uniform(0.5, 0.95),
        colors=[color(rng) for _ in range(3)],
        pattern=int(rng.integers(6)),
        word=WORDS[rng.integers(len(WORDS))],
        font=FONTS[rng.integers(len(FONTS))],
    )


def silhouette(shape: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A uint8 mask (h, w) of the product's outline."""
    m = np.zeros((h, w), np.uint8)
    if shape == "box":
        m[:] = 255
    elif shape == "bottle":
        neck_w = max(2, int(w * rng.uniform(0.3, 0.45)))
        neck_h = int(h * rng.uniform(0.2, 0.35))
        x0 = (w - neck_w) // 2
        m[neck_h:, :] = 255
        m[: neck_h + 1, x0 : x0 + neck_w] = 255
        shoulder = max(1, int(h * 0.08))
        pts = np.array([[0, neck_h + shoulder], [x0, neck_h], [x0 + neck_w, neck_h],
                        [w - 1, neck_h + shoulder]], np.int32)
        m[neck_h : neck_h + shoulder, :] = 0
        cv2.fillConvexPoly(m, pts, 255)
        m[neck_h + shoulder :, :] = 255
    elif shape == "can":
        r = max(1, int(w * 0.12))
        cv2.rectangle(m, (0, r), (w - 1, h - 1 - r), 255, -1)
        cv2.ellipse(m, (w // 2, r), (w // 2, r), 0, 0, 360, 255, -1)
        cv2.ellipse(m, (w // 2, h - 1 - r), (w // 2, r), 0, 0, 360, 255, -1)
    elif shape == "bag":
        corners = [[int(w * rng.uniform(0, 0.12)), int(h * rng.uniform(0, 0.1))],
                   [int(w * rng.uniform(0.88, 1.0)) - 1, int(h * rng.uniform(0, 0.1))],
                   [w - 1, h - 1], [0, h - 1]]
        cv2.fillPoly(m, [np.array(corners, np.int32)], 255)
    else:  # jar
        lid = max(1, int(h * 0.15))
        inset = max(1, int(w * 0.1))
        m[lid:, :] = 255
        m[:lid, inset : w - inset] = 255
    return m


def packaging(sku: Sku, w: int, h: int, rng: np.random.Generator, highlights: float = 0.0) -> np.ndarray:
    """The printed face of one facing: base colour, a pattern, a word and a logo."""
    if sku.face is not None:  # a real product: its face, each facing lit a little differently
        face = cv2.resize(sku.face, (w, h), interpolation=cv2.INTER_AREA if w < sku.face.shape[1] else cv2.INTER_LINEAR)
        return np.clip(face * rng.uniform(0.85, 1.1), 0, 255).astype(np.uint8)
    c0, c1, c2 = sku.colors
    img = np.empty((h, w, 3), np.uint8)
    img[:] = c0
    p = sku.pattern
    if p == 0:  # vertical gradient
        t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        img[:] = (np.array(c0) * (1 - t) + np.array(c1) * t).astype(np.uint8)
    elif p == 1:  # horizontal band
        y0 = int(h * 0.3)
        img[y0 : y0 + max(2, h // 4)] = c1
    elif p == 2:  # stripes
        step = max(3, h // 6)
        for y in range(0, h, step * 2):
            img[y : y + step] = c1
    elif p == 3:  # label window with a "photo" of the content
        x0, y0 = w // 6, h // 3
        img[y0 : h - h // 6, x0 : w - x0] = c1
        cv2.circle(img, (w // 2, (y0 + h) // 2), max(2, w // 5), c2, -1)
    elif p == 4:  # diagonal split
        pts = np.array([[0, h], [w, int(h * 0.4)], [w, h]], np.int32)
        cv2.fillConvexPoly(img, pts, c1)
    # p == 5: plain
    if w >= 10 and h >= 10:
        scale = max(0.2, min(w, h) / 60.0)
        (tw, _), _ = cv2.getTextSize(sku.word, sku.font, scale, 1)
        if tw > 0:
            scale *= min(1.0, 0.9 * w / tw)
        y = int(h * rng.uniform(0.35, 0.7))
        cv2.putText(img, sku.word, (max(0, (w - int(tw * scale / max(scale, 1e-6))) // 2), y),
                    sku.font, scale, c2, max(1, int(scale * 1.5)), cv2.LINE_AA)
        cv2.circle(img, (w // 2, max(2, h // 6)), max(1, min(w, h) // 8), c1 if p != 1 else c2, -1)
        # small print: a few lines of "text"
        for k in range(int(rng.integers(0, 4))):
            yy = int(h * (0.75 + 0.06 * k))
            if yy < h - 1:
                cv2.line(img, (w // 6, yy), (w - w // 6, yy), c2, 1)
    # a cylinder's shading; boxes get a lit side
    if sku.shape in ("bottle", "can", "jar"):
        x = np.linspace(-1, 1, w, dtype=np.float32)
        shade = 0.65 + 0.45 * np.sqrt(np.clip(1 - x**2, 0, 1))
        img = np.clip(img * shade[None, :, None], 0, 255).astype(np.uint8)
    elif sku.shape == "bag":
        coarse = rng.normal(1.0, 0.08, (max(2, h // 8), max(2, w // 8))).astype(np.float32)
        noise = cv2.resize(coarse, (w, h))
        img = np.clip(img * noise[:, :, None], 0, 255).astype(np.uint8)
    if sku.shape == "bottle" and rng.random() < 0.6:  # transparent-ish bottle: darker top
        img[: h // 3] = (img[: h // 3] * 0.6).astype(np.uint8)
    if highlights and sku.shape != "box" and rng.random() < highlights:
        x0 = int(w * rng.uniform(0.15, 0.4))  # the store lights' reflection on a curved surface
        cv2.rectangle(img, (x0, 0), (x0 + max(1, w // 10), h), (250, 250, 250), -1)
    return img
