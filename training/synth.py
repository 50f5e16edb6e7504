"""Procedural supermarket shelves with product boxes, in YOLO format.

No product-labelled shelf photos can be downloaded here, so the detector learns from
shelves drawn by this module. They are modelled on real shelf photos (SKU-110K's, the
folder the ``REAL_DATA_DIR`` setting names): 4-8 dense rows, ~100-200 facings per photo, blocks of
the same product side by side, price-tag strips on the shelf edges, gaps where stock is
out, perspective, uneven light, glare, blur and phone JPEG artefacts.

Every product is labelled with one class, ``product`` (see ``CLASS_NAMES``): it is what
real shelf photos can be checked against. The shape (box, bottle, can, bag, jar) only
varies how a product is drawn. Price tags, shelf edges and signs are drawn on purpose
and never labelled, so the model learns they are not products.

This module lays out the shelf: rows, blocks of facings, gaps, shelf edges, tags, signs.
How one product looks is ``training/artwork.py``; what the camera does (light, blur,
perspective) is ``training/camera_effects.py``.

Entry point: ``generate(out_dir, n_train, n_val, seed, size)``; every photo is a pure
function of ``(seed, index)``, so a dataset is reproducible and can be extended.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from training.artwork import color, new_sku, packaging, silhouette
from training.camera_effects import perspective, photometric

CLASS_NAMES = ["product"]


@dataclass(frozen=True)
class Style:
    """How a generation of the dataset looks. Style 1 made the first model; style 2 is
    closer to real store photos (more, thinner rows; white shelf edges; floors; aisle
    perspective; specular bottles; the shelf above shading the products' tops); style 3
    adds real product faces, deeper stacks and close-ups.

    A feature switched off draws no random numbers, so adding one to a new style leaves
    the photos of the older styles bit-for-bit the same (``GENERATOR`` counts the changes
    that did alter every style).
    """

    portrait: float = 0.55
    rows: tuple[int, ...] = (3, 4, 5, 5, 6, 6, 7, 7, 8, 9)
    unit_margin: float = 0.08
    side_walls: float = 0.3
    perspective: float = 0.12
    light_boards: float = 0.0
    floor: float = 0.0
    highlights: float = 0.0
    shelf_shadow: float = 0.0
    neutral_back: float = 0.0
    real_faces: float = 0.0  # share of products printed with a real product's face (a bank of crops)
    stacked: float = 0.25    # share of rows whose boxes and cans stand in layers
    max_layers: int = 2      # above 2, a stacked row draws its layer count and sizes its products to fit
    layer_floor: int = 30    # a layer of a stack is at least 1/layer_floor of the photo's height
    layer_shift: float = 0.0   # layers of a stack stand this share of a width off each other, at most


# style 2's layout with real packaging: faces cut from real shelf photos (training/realfaces.py),
# packs stacked 2-3 high, and close-ups of 2-3 rows (products 4x larger than on a dense shelf):
# the two ways a real row was miscounted most (hand counts, training/real_rows.json)
STYLE_3 = Style(portrait=0.7, rows=(2, 3, 4, 5, 6, 7, 8, 9, 10, 11), unit_margin=0.12, perspective=0.2,
                light_boards=0.7, floor=0.3, highlights=0.6, shelf_shadow=0.7, neutral_back=0.7, real_faces=0.85,
                stacked=0.35, max_layers=3)
STYLES = {
    1: Style(),
    2: Style(portrait=0.7, rows=(4, 5, 6, 7, 7, 8, 8, 9, 10, 11), unit_margin=0.12, perspective=0.2,
             light_boards=0.7, floor=0.3, highlights=0.6, shelf_shadow=0.7, neutral_back=0.7),
    3: STYLE_3,
    # style 3 where stacks are the rule: v6 still boxed a real stack of 2-4 packs as one product (the
    # largest misses on the hand-counted rows), so over half the rows stack, up to 4 layers of at
    # least 1/36 of the photo, each layer a little off the one below, as hands stack them; fewer,
    # taller rows keep the density near real shelves (median 180 products; with style 3's rows, 370)
    4: replace(STYLE_3, rows=(2, 3, 3, 4, 4, 5, 5, 6, 6, 7), stacked=0.55, max_layers=4, layer_floor=36,
               layer_shift=0.06),
}
# Bumped when a change alters the photos of every style; dataset folders carry it, so a
# cached set from an older generator is never mixed with new photos.
GENERATOR = 2
GAP = -1  # the SKU field of a gap's box


def _background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    base = np.array(color(rng), np.float32) * rng.uniform(0.2, 0.6) + rng.uniform(60, 160)
    img = np.empty((h, w, 3), np.float32)
    img[:] = np.clip(base, 0, 255)
    noise = cv2.resize(rng.normal(0, 12, (8, 8)).astype(np.float32), (w, h))
    img += noise[:, :, None]
    return np.clip(img, 0, 255).astype(np.uint8)


def _price_tags(img: np.ndarray, x0: int, x1: int, y: int, th: int, rng: np.random.Generator):
    """Shelf-edge labels: white/yellow tags with prices and barcodes (never labelled)."""
    x = x0 + int(rng.integers(0, max(1, th * 2)))
    tag_color = [(245, 245, 245), (40, 210, 250), (30, 180, 255), (250, 250, 230), (80, 80, 230)][rng.integers(5)]
    while x < x1:
        tw = int(th * rng.uniform(1.4, 2.6))
        cv2.rectangle(img, (x, y), (x + tw, y + th), tag_color, -1)
        cv2.putText(img, f"{rng.integers(0, 99)}.{rng.integers(10, 99)}", (x + 2, y + int(th * 0.7)),
                    cv2.FONT_HERSHEY_SIMPLEX, max(0.2, th / 40), (20, 20, 20), 1, cv2.LINE_AA)
        for bx in range(x + tw // 2, x + tw - 2, 2):
            if rng.random() < 0.6:
                cv2.line(img, (bx, y + th // 2), (bx, y + th - 2), (30, 30, 30), 1)
        x += tw + int(th * rng.uniform(1, 6))


def _draw_row(img, boxes, y_top, y_bot, x_from, x_to, rng, style, faces=None, sku_ids=None):
    """Fill one shelf row with blocks of facings; returns nothing, appends boxes.

    Each product box carries its SKU's id as a fifth field, and each gap is a box with
    ``GAP`` there: the truth the analytics are measured against.
    """
    sku_ids = sku_ids if sku_ids is not None else itertools.count()
    row_h = y_bot - y_top
    x = x_from - int(rng.uniform(0, 0.5) * row_h)  # the first product may be cut by the edge
    gap_p = rng.uniform(0.0, 0.12)
    stacked = rng.random() < style.stacked
    while x < x_to:
        if rng.random() < gap_p:  # out-of-stock gap: back of the shelf shows
            gw = int(row_h * rng.uniform(0.4, 1.8))
            dark = img[y_top:y_bot, max(0, x) : max(0, x + gw)]
            dark[:] = (dark * rng.uniform(0.3, 0.7)).astype(np.uint8)
            boxes.append([x, y_top, x + gw, y_bot, GAP])  # the truth about the gap, not a product label
            x += gw
            continue
        sku = new_sku(rng, style.real_faces, faces)
        sku_id = next(sku_ids)
        fit = 1
        if stacked and style.max_layers > 2 and sku.shape in ("box", "can"):
            # this block stands `fit` high, each layer at least 1/layer_floor of the photo (30: real shelves' smallest)
            fit = max(1, min(int(rng.integers(2, style.max_layers + 1)), int(row_h * style.layer_floor / img.shape[0])))
        for _ in range(int(rng.integers(1, 7))):
            ph = int(row_h * min(sku.height, 0.97 / fit))
            pw = max(4, int(ph * sku.aspect))
            layers = fit if fit > 1 else 2 if stacked and sku.shape in ("box", "can") and ph * 2 < row_h * 0.98 else 1
            for layer in range(layers):
                y1 = y_bot - layer * ph
                y0 = y1 - ph
                shift = 0
                if style.layer_shift and layer:  # hands never stack packs exactly
                    shift = int(pw * rng.uniform(-style.layer_shift, style.layer_shift))
                before = len(boxes)
                _paste_product(img, boxes, sku, x + shift, y0, pw, ph, rng, style)
                if len(boxes) > before:
                    boxes[-1].append(sku_id)  # which product it is: the truth for grouping
            x += pw + int(rng.integers(0, max(2, pw // 10)))
            if x >= x_to:
                break


def _paste_product(img, boxes, sku, x, y, w, h, rng, style):
    H, W = img.shape[:2]
    if w < 3 or h < 3:
        return
    face = packaging(sku, w, h, rng, style.highlights)
    mask = silhouette(sku.shape, w, h, rng)
    # clip to the canvas
    cx0, cy0, cx1, cy1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if cx1 - cx0 < 2 or cy1 - cy0 < 2:
        return
    f = face[cy0 - y : cy1 - y, cx0 - x : cx1 - x]
    m = mask[cy0 - y : cy1 - y, cx0 - x : cx1 - x]
    roi = img[cy0:cy1, cx0:cx1]
    roi[m > 0] = f[m > 0]
    if sku.face is None:  # a thin dark outline, as real packaging edges cast (a real face has its own)
        cnt, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(roi, cnt, -1, (0, 0, 0), 1)
    ys, xs = np.nonzero(m)
    if len(xs) == 0:
        return
    visible = len(xs) / max(1, mask.sum() / 255)
    if visible < 0.4:
        return
    boxes.append([cx0 + xs.min(), cy0 + ys.min(), cx0 + xs.max() + 1, cy0 + ys.max() + 1])


def _sign(img, rng):
    """A promotional sign or hanging card: a large non-product distractor."""
    H, W = img.shape[:2]
    w, h = int(W * rng.uniform(0.08, 0.25)), int(H * rng.uniform(0.04, 0.12))
    x, y = int(rng.integers(0, max(1, W - w))), int(rng.integers(0, max(1, H - h)))
    color = [(0, 0, 230), (0, 200, 255), (255, 255, 255), (0, 160, 0)][rng.integers(4)]
    cv2.rectangle(img, (x, y), (x + w, y + h), color, -1)
    cv2.putText(img, ["SALE", "-30%", "PROMO", "NEW", "2 FOR 1"][rng.integers(5)],
                (x + 3, y + int(h * 0.75)), cv2.FONT_HERSHEY_DUPLEX, max(0.3, h / 35), (255, 255, 255)
                if color != (255, 255, 255) else (0, 0, 200), 2, cv2.LINE_AA)
    return (x, y, x + w, y + h)


def shelf(seed: int, index: int, size: int = 640, style: int = 1,
          faces: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic shelf photo and its boxes ``(n, 4)`` as x1, y1, x2, y2 pixels.

    ``faces``: real product crops that a style with ``real_faces`` prints on its products.
    """
    img, boxes, _, _ = shelf_with_truth(seed, index, size, style, faces)
    return img, boxes


def shelf_with_truth(seed: int, index: int, size: int = 640, style: int = 1, faces: list[np.ndarray] | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``shelf`` and what only the generator knows: each box's SKU id and the gaps' boxes.

    The photo and its boxes are exactly ``shelf``'s (the truth rides along the boxes and
    draws no random number).
    """
    sku_ids = itertools.count()
    st = STYLES[style]
    rng = np.random.default_rng([seed, index])
    portrait = rng.random() < st.portrait
    long_side = int(size * rng.uniform(1.0, 1.5))
    short = int(long_side * rng.uniform(0.6, 0.8))
    W, H = (short, long_side) if portrait else (long_side, short)
    img = _background(H, W, rng)
    if st.neutral_back and rng.random() < st.neutral_back:  # grey or white back panels, pegboard
        v = rng.uniform(50, 230)
        img[:] = np.clip(img.astype(np.float32) * 0.15 + v * 0.85, 0, 255).astype(np.uint8)
    boxes: list[list[float]] = []
    n_rows = int(rng.choice(list(st.rows)))
    # the shelf unit may not fill the frame: floor or ceiling strips above/below
    top = int(H * rng.uniform(-st.unit_margin, st.unit_margin))
    bottom = int(H * rng.uniform(0.92, 1.08))
    if st.floor and rng.random() < st.floor:  # the aisle floor shows below the unit
        bottom = int(H * rng.uniform(0.65, 0.88))
        _floor(img, bottom, rng)
    row_h = (bottom - top) / n_rows
    # the shelf unit may not fill the frame sideways either: a wall, a fridge frame
    x_left, x_right = 0, W
    if rng.random() < st.side_walls:
        x_left = int(W * rng.uniform(0, 0.25))
        x_right = int(W * rng.uniform(0.75, 1.0))
        img[:, :x_left] = (img[:, :x_left] * rng.uniform(0.2, 0.6)).astype(np.uint8)
        img[:, x_right:] = (img[:, x_right:] * rng.uniform(0.2, 0.6)).astype(np.uint8)
    board_color = np.array(color(rng), np.float32) * 0.3 + rng.uniform(120, 200)
    if st.light_boards and rng.random() < st.light_boards:  # most stores: white or grey shelf edges
        board_color = np.full(3, rng.uniform(170, 250), np.float32)
    for r in range(n_rows):
        y0 = int(top + r * row_h)
        board = max(3, int(row_h * rng.uniform(0.08, 0.16)))
        y1 = int(top + (r + 1) * row_h) - board
        if y1 - y0 < 8:
            continue
        _draw_row(img, boxes, max(y0, -10), y1, x_left, x_right, rng, st, faces, sku_ids)
        if st.shelf_shadow and y0 >= 0 and rng.random() < st.shelf_shadow:
            # the shelf above shades the top of the row
            depth = max(2, int((y1 - y0) * rng.uniform(0.15, 0.4)))
            ramp = np.linspace(rng.uniform(0.45, 0.75), 1.0, depth, dtype=np.float32)[:, None, None]
            band = img[y0 : y0 + depth, x_left:x_right]
            band[:] = (band * ramp[: band.shape[0]]).astype(np.uint8)
        by0, by1 = max(0, y1), min(H, y1 + board)
        if by1 > by0:
            img[by0:by1, x_left:x_right] = np.clip(board_color, 0, 255).astype(np.uint8)
            img[by0 : by0 + 1] = 40
            _price_tags(img, x_left, x_right, by0 + 1, max(2, by1 - by0 - 2), rng)
    boxes = [b for b in boxes if b[3] > 0 and b[1] < H]
    for _ in range(int(rng.integers(0, 3))):
        sx0, sy0, sx1, sy1 = _sign(img, rng)
        # a sign in front hides what it covers: drop products mostly hidden by it
        kept = []
        for b in boxes:
            ix = max(0, min(b[2], sx1) - max(b[0], sx0))
            iy = max(0, min(b[3], sy1) - max(b[1], sy0))
            if ix * iy < 0.5 * (b[2] - b[0]) * (b[3] - b[1]):
                kept.append(b)
        boxes = kept
    img, boxes = perspective(img, boxes, rng, st.perspective)
    img = photometric(img, rng)
    full = np.array([b[:5] for b in boxes], np.float32).reshape(-1, 5)
    area = (full[:, 2] - full[:, 0]) * (full[:, 3] - full[:, 1])
    full[:, [0, 2]] = full[:, [0, 2]].clip(0, W)
    full[:, [1, 3]] = full[:, [1, 3]].clip(0, H)
    # a gap counts as the truth by the products' own rule: at least 40 % of it in the frame
    seen = (full[:, 2] - full[:, 0]) * (full[:, 3] - full[:, 1]) >= 0.4 * area
    products, gaps = full[full[:, 4] != GAP], full[(full[:, 4] == GAP) & seen]
    return img, products[:, :4].copy(), products[:, 4].astype(int), gaps[:, :4].copy()


def _floor(img: np.ndarray, y: int, rng: np.random.Generator) -> None:
    """Light floor tiles below the shelf unit."""
    H, W = img.shape[:2]
    if y >= H:
        return
    v = rng.uniform(150, 230)
    img[y:] = np.clip(np.array([v, v, v]) + rng.normal(0, 6, 3), 0, 255).astype(np.uint8)
    step = max(8, int(W * rng.uniform(0.08, 0.2)))
    for x in range(0, W, step):
        cv2.line(img, (x, y), (x + int((x - W / 2) * 0.6), H), (v * 0.8,) * 3, 1)
    for yy in range(y, H, max(6, step // 2)):
        cv2.line(img, (0, yy), (W, yy), (v * 0.8,) * 3, 1)


def write_yolo(img: np.ndarray, boxes: np.ndarray, image_path: Path, label_path: Path,
               jpeg_quality: int) -> None:
    H, W = img.shape[:2]
    cv2.imwrite(str(image_path), img, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    lines = []
    for x0, y0, x1, y1 in boxes:
        lines.append(f"0 {(x0 + x1) / 2 / W:.6f} {(y0 + y1) / 2 / H:.6f} {(x1 - x0) / W:.6f} {(y1 - y0) / H:.6f}")
    label_path.write_text("\n".join(lines) + ("\n" if lines else ""))


def dataset_name(seed: int, size: int, style: int = 1) -> str:
    """The folder name of a generated set: what makes its photos, generator version included."""
    return f"synthetic-g{GENERATOR}-s{seed}-{size}" + (f"-style{style}" if style != 1 else "")


def generate(out_dir: Path, n_train: int, n_val: int, seed: int = 0, size: int = 640, style: int = 1,
             faces: list[np.ndarray] | None = None) -> Path:
    """Write ``images/{train,val}`` and ``labels/{train,val}`` and a ``data.yaml``.

    Photos already present are kept, so an interrupted run resumes where it stopped;
    photos beyond ``n`` (left by a config that asked for more) are removed, since a
    trainer reads every photo in the folder.
    """
    if STYLES[style].real_faces and not faces:
        raise ValueError(f"style {style} prints real product faces: pass a bank of them (training/realfaces.py)")
    out_dir = Path(out_dir)
    for split, n, offset in (("train", n_train, 0), ("val", n_val, 1_000_000)):
        (out_dir / "images" / split).mkdir(parents=True, exist_ok=True)
        (out_dir / "labels" / split).mkdir(parents=True, exist_ok=True)
        for extra in sorted((out_dir / "images" / split).glob("*.jpg"))[n:]:
            extra.unlink()
            (out_dir / "labels" / split / f"{extra.stem}.txt").unlink(missing_ok=True)
        for i in range(n):
            name = f"{split}_{i:05d}"
            ip = out_dir / "images" / split / f"{name}.jpg"
            lp = out_dir / "labels" / split / f"{name}.txt"
            if ip.exists() and lp.exists():
                continue
            img, boxes = shelf(seed, offset + i, size, style, faces)
            quality = int(np.random.default_rng([seed, offset + i, 7]).integers(55, 95))
            write_yolo(img, boxes, ip, lp, quality)
    yaml = out_dir / "data.yaml"
    yaml.write_text(
        f"path: {out_dir.resolve()}\ntrain: images/train\nval: images/val\n"
        f"names:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(CLASS_NAMES))
    )
    return yaml


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description="write synthetic shelf photos (the demo's samples/)")
    ap.add_argument("out", type=Path)
    ap.add_argument("-n", type=int, default=4)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--size", type=int, default=960)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for i in range(args.n):
        img, boxes = shelf(args.seed, i, args.size)
        cv2.imwrite(str(args.out / f"shelf-{i + 1}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 88])
        print(f"shelf-{i + 1}.jpg: {img.shape[1]}x{img.shape[0]}, {len(boxes)} products")


if __name__ == "__main__":
    main()
