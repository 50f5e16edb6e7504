"""Header sniffing, decode and letterbox: pure functions, no services."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from shared.imaging import PhotoError, decode, letterbox, read_header, shrink


def encode(ext: str, w: int, h: int) -> bytes:
    img = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize(("ext", "ctype"), [(".jpg", "image/jpeg"), (".png", "image/png"), (".webp", "image/webp")])
def test_header_gives_type_and_size(ext, ctype):
    h = read_header(encode(ext, 123, 45))
    assert (h.content_type, h.width, h.height) == (ctype, 123, 45)


@pytest.mark.parametrize(("data", "code"), [
    (b"", "unsupported_media_type"),
    (b"GIF89a...", "unsupported_media_type"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "photo_unreadable"),
    (b"\x89PNG\r\n\x1a\n\x00", "photo_unreadable"),
])
def test_bad_headers(data, code):
    with pytest.raises(PhotoError) as e:
        read_header(data)
    assert e.value.code == code


def test_reduced_decode_maps_back_to_original_pixels():
    data = encode(".jpg", 3000, 2000)
    d = decode(data, target_size=640)
    # 3000 px long side: 1/4 scale still covers 640, 1/8 would not
    assert d.image.shape[:2] == (500, 750)
    assert (d.width, d.height) == (3000, 2000)
    assert d.scale_to_original == pytest.approx(4.0)
    full = decode(data)
    assert full.image.shape[:2] == (2000, 3000)
    assert full.scale_to_original == 1.0


def test_shrink_gives_what_a_reduced_decode_would():
    """The analytics reuse the model's decode: halved to the size ``decode`` would have made."""
    yy, xx = np.mgrid[0:2000, 0:3000]
    smooth = np.dstack([xx % 256, yy % 256, (xx + yy) % 256]).astype(np.uint8)  # gradients: a fair JPEG
    ok, buf = cv2.imencode(".jpg", smooth)
    assert ok
    model = decode(buf.tobytes(), target_size=640)  # 750 x 500
    small, direct = shrink(model, 320), decode(buf.tobytes(), target_size=320)
    assert small.image.shape == direct.image.shape == (250, 375, 3)
    assert (small.width, small.height, small.scale_to_original) == (3000, 2000, pytest.approx(8.0))
    assert direct.scale_to_original == pytest.approx(8.0)
    diff = np.abs(small.image.astype(int) - direct.image.astype(int))
    assert np.median(diff) <= 2  # area averaging vs libjpeg's DCT scaling: the same picture
    assert shrink(model, 640) is model  # already no larger than needed: the same pixels


def test_undecodable_body():
    _, buf = cv2.imencode(".jpg", np.zeros((32, 32, 3), np.uint8))
    head = buf.tobytes()
    broken = head[: head.index(b"\xff\xda")] + b"\xff\xda" + b"\x00\x01" * 10
    with pytest.raises(PhotoError) as e:
        decode(broken)
    assert e.value.code == "photo_undecodable"


def test_letterbox_centres_and_scales():
    img = np.full((100, 200, 3), 255, np.uint8)
    out, r, px, py = letterbox(img, 64)
    assert out.shape == (64, 64, 3)
    assert r == pytest.approx(0.32)
    assert (px, py) == (0, 16)
    assert out[15, 10, 0] == 114
    assert out[16, 10, 0] == 255
    assert out[47, 10, 0] == 255
    assert out[48, 10, 0] == 114


def test_exif_rotation_is_applied_and_sizes_follow_it():
    pil = pytest.importorskip("PIL.Image")
    import io

    img = pil.fromarray(np.zeros((100, 300, 3), np.uint8))  # 300 wide, 100 high as stored
    exif = pil.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    d = decode(buf.getvalue())
    assert d.image.shape[:2] == (300, 100)
    assert (d.width, d.height) == (100, 300)
    big = pil.fromarray(np.zeros((1000, 3000, 3), np.uint8))
    buf = io.BytesIO()
    big.save(buf, "JPEG", exif=exif.tobytes())
    d = decode(buf.getvalue(), target_size=300)  # reduced decode and rotation together
    assert (d.width, d.height) == (1000, 3000)
    assert d.image.shape[0] > d.image.shape[1]
    assert d.scale_to_original * d.image.shape[1] == pytest.approx(1000)
