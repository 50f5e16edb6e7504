"""Photo bytes → pixels: header checks for the gateway, decode and letterbox for workers.

The gateway must reject bad uploads without decoding them (it never spends a worker's
CPU), so ``read_header`` reads only the format's header. Workers decode with
``decode``, which honours EXIF orientation and lets libjpeg decode a large photo at
1/2, 1/4 or 1/8 scale when the model needs far fewer pixels.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import cv2
import numpy as np

JPEG, PNG, WEBP = "image/jpeg", "image/png", "image/webp"


class PhotoError(ValueError):
    """A photo that cannot be used; ``code`` is the stable error code shown to users."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Header:
    content_type: str
    width: int
    height: int


def sniff(data: bytes) -> str | None:
    """The content type by magic bytes, or None when it is not a supported image."""
    if data[:3] == b"\xff\xd8\xff":
        return JPEG
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


def read_header(data: bytes) -> Header:
    """Format and pixel size from the header alone; raises PhotoError."""
    kind = sniff(data)
    if kind is None:
        raise PhotoError("unsupported_media_type", "not a JPEG, PNG or WebP file")
    try:
        if kind == JPEG:
            w, h = _jpeg_size(data)
        elif kind == PNG:
            w, h = struct.unpack(">II", data[16:24])
        else:
            w, h = _webp_size(data)
    except (struct.error, IndexError, ValueError) as exc:
        raise PhotoError("photo_unreadable", f"the {kind} header cannot be read") from exc
    if w <= 0 or h <= 0:
        raise PhotoError("photo_unreadable", "the header gives no pixel size")
    return Header(kind, w, h)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            raise ValueError("bad marker")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + length
    raise ValueError("no frame header")


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L":
        b = int.from_bytes(data[21:25], "little")
        return (b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    raise ValueError("unknown WebP chunk")


@dataclass(frozen=True)
class Decoded:
    """Pixels (BGR) and the factor from these pixels back to the original photo's."""

    image: np.ndarray
    width: int  # of the original photo, after EXIF rotation
    height: int
    scale_to_original: float


_REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def dct_factor(long_side: int, target_size: int | None) -> int:
    """The scale (1, 2, 4 or 8) libjpeg may decode at, keeping the long side at least ``target_size``."""
    factor = 1
    while target_size and factor < 8 and long_side // (factor * 2) >= target_size:
        factor *= 2
    return factor


def decode(data: bytes, target_size: int | None = None) -> Decoded:
    """Decode, honouring EXIF orientation; with ``target_size``, decode no larger than needed.

    A JPEG whose shorter scaled side would still cover ``target_size`` is decoded by libjpeg
    at 1/2, 1/4 or 1/8 scale, which is several times faster than a full decode and resize.
    """
    header = read_header(data)
    factor = dct_factor(max(header.width, header.height), target_size) if header.content_type == JPEG else 1
    buf = np.frombuffer(data, np.uint8)
    img = cv2.imdecode(buf, _REDUCED[factor] if factor > 1 else cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise PhotoError("photo_undecodable", "the image data cannot be decoded")
    h, w = img.shape[:2]
    # EXIF rotation by 90°/270° swaps the sides relative to the header
    rotated = (w > h) != (header.width > header.height) and header.width != header.height
    ow, oh = (header.height, header.width) if rotated else (header.width, header.height)
    return Decoded(img, ow, oh, ow / w)


def shrink(decoded: Decoded, target_size: int) -> Decoded:
    """The same pixels halved (area averaging) while the long side stays at least ``target_size``.

    What ``decode(data, target_size)`` would give a JPEG (libjpeg's 1/2, 1/4, 1/8 scaling),
    made from pixels already decoded at a larger size: the worker's analytics reuse the
    model's decode instead of decoding the photo a second time.
    """
    img, factor = decoded.image, 1
    while factor < 8 and max(img.shape[:2]) // 2 >= target_size:
        img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
        factor *= 2
    if factor == 1:
        return decoded
    return Decoded(img, decoded.width, decoded.height, decoded.width / img.shape[1])


def letterbox(img: np.ndarray, size: int, stride: int | None = None) -> tuple[np.ndarray, float, int, int]:
    """Resize so the long side is ``size``, pad with grey; returns image, scale, pad x, pad y.

    Without ``stride`` the result is a ``size``×``size`` square. With it, each side is
    padded only up to a multiple of ``stride`` (a dynamic-shape model accepts that): a
    4:3 photo then costs the model 3/4 of the square's pixels.
    """
    h, w = img.shape[:2]
    r = min(size / h, size / w)
    nw, nh = round(w * r), round(h * r)
    if (nw, nh) != (w, h):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    ow, oh = (size, size) if stride is None else (-(-nw // stride) * stride, -(-nh // stride) * stride)
    px, py = (ow - nw) // 2, (oh - nh) // 2
    out = np.full((oh, ow, 3), 114, np.uint8)
    out[py : py + nh, px : px + nw] = img
    return out, r, px, py
