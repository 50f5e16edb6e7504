"""The YOLO detector on ONNX Runtime: preprocess → predict → postprocess.

One ``Detector`` per process, built after fork (an ONNX Runtime session must not cross
a fork). The worker, ``shelfwatch detect``, the benchmarks and the training evaluation
all call this class, so what is measured is what is served.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections import Counter
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from shared.imaging import Decoded, decode, letterbox


@dataclass(frozen=True)
class Detection:
    class_id: int
    class_name: str
    confidence: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in original-photo pixels

    def to_dict(self) -> dict:
        """The public shape, as the API and `shelfwatch detect --json` show it."""
        return detection_json(self.class_name, self.confidence, self.box)


def detection_json(class_name: str, confidence: float, box: tuple[float, float, float, float]) -> dict:
    """The one place the public detection JSON is built (API, `shelfwatch detect`)."""
    return {"class": class_name, "confidence": round(confidence, 4), "box": [round(v, 1) for v in box]}


def served_threshold(card: dict, size: int | None) -> float | None:
    """The confidence threshold a card (its JSON) serves at input ``size`` (None: its own):
    the one calibrated there (``conf_thresholds``, chosen per size on labelled real photos by
    ``training.label_real calibrate``), else ``conf_threshold``. The network is surer of
    itself at some sizes than at others, so one threshold does not fit every size."""
    size = size or card.get("input_size")
    return (card.get("conf_thresholds") or {}).get(str(size), card.get("conf_threshold"))


@dataclass(frozen=True)
class ModelCard:
    version: str
    file: str
    sha256: str
    classes: list[str]
    input_size: int
    conf_threshold: float
    iou_threshold: float
    max_det: int
    raw: dict
    # suppress a box lying at least this share inside a higher-scored one (None: off; see nested_in_higher)
    contain_threshold: float | None = None
    # ... unless it is a layer of that box: a stack's pack inside the box drawn round the stack
    keep_layers: bool = False
    # a close-up photo runs again, smaller: {"median_side": px, "factor": f} (None: off; see Detector.zoom_size)
    zoom_out: dict | None = None
    # the not-a-shelf check's limits measured on this model (None: the defaults; see shared.plausibility)
    shelf_check: dict | None = None

    def threshold_at(self, size: int) -> float:
        """The confidence threshold to serve at input ``size`` (``served_threshold``)."""
        threshold = served_threshold(self.raw, size)
        return self.conf_threshold if threshold is None else float(threshold)

    def shelf_check_at(self, size: int) -> dict | None:
        """The not-a-shelf check's limits at input ``size``: ``shelf_check`` with its
        ``by_size[size]`` over it. A photo's confident share depends on the size the model
        reads it at (the far products of a wide shot are surer at 1024 px than at 640), so
        a model served at two sizes may need two limits."""
        if not self.shelf_check:
            return None
        limits = {k: v for k, v in self.shelf_check.items() if k != "by_size"}
        return {**limits, **(self.shelf_check.get("by_size") or {}).get(str(int(size)), {})}

    @classmethod
    def load(cls, model_path: Path) -> ModelCard:
        card_path = Path(model_path).with_suffix(".json")
        if not card_path.exists():
            raise FileNotFoundError(f"model card {card_path} is missing beside {model_path}")
        return cls.from_raw(json.loads(card_path.read_text()))

    @classmethod
    def from_raw(cls, raw: dict) -> ModelCard:
        """A card from its JSON: a card file's, or one ``models/registry.json`` keeps for a version
        no longer in the tree."""
        return cls(
            version=raw["version"],
            file=raw["file"],
            sha256=raw["sha256"],
            classes=list(raw["classes"]),
            input_size=int(raw["input_size"]),
            conf_threshold=float(raw["conf_threshold"]),
            iou_threshold=float(raw["iou_threshold"]),
            max_det=int(raw["max_det"]),
            raw=raw,
            contain_threshold=raw.get("contain_threshold"),
            keep_layers=bool(raw.get("keep_layers", False)),
            zoom_out=raw.get("zoom_out"),
            shelf_check=raw.get("shelf_check"),
        )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


STRIDE = 32  # YOLO's largest downsampling: input sides must be multiples of it


def intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection areas ``(len(a), len(b))`` of boxes given as x1, y1, x2, y2."""
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(iw, 0, None) * np.clip(ih, 0, None)


# a nested box is a layer of its container when it spans most of the container's width
# and at most this share of its height: a pack of a stack, not a slice of one product
LAYER_MIN_WIDTH = 0.7
LAYER_MAX_HEIGHT = 0.75


def nested_in_higher(xywh: np.ndarray, threshold: float, keep_layers: bool = False) -> np.ndarray:
    """Which boxes (sorted by score, best first; x, y, w, h) lie ``threshold`` or more of
    their own area inside a higher-scored box.

    IoU-based NMS keeps a narrow box drawn on one half of a product beside the product's
    own box: their IoU is low because the boxes differ in size. On a shelf one product
    never stands inside another, so such a box is a second count of the same product.

    With ``keep_layers`` a nested box that is a horizontal band of its container (at
    least ``LAYER_MIN_WIDTH`` of its width, at most ``LAYER_MAX_HEIGHT`` of its height)
    stays: on real shelves that is one pack of a stack the model also boxed whole, and
    dropping it loses a product (measured on v7's hand-counted real rows).
    """
    corners = np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:]]
    inside = intersections(corners, corners) / np.maximum(xywh[:, 2] * xywh[:, 3], 1e-9)[None, :]  # [i, j]: j in i
    covers = np.triu(inside >= threshold, k=1)
    if keep_layers:
        w, h = xywh[:, 2], xywh[:, 3]
        covers &= ~((w[None, :] >= LAYER_MIN_WIDTH * w[:, None]) & (h[None, :] <= LAYER_MAX_HEIGHT * h[:, None]))
    nested = np.zeros(len(xywh), bool)
    for i in np.flatnonzero(covers.any(1)):  # greedy, best first: only a box that stays suppresses
        if not nested[i]:
            nested |= covers[i]
    return nested


def boxes_of(detections: list[Detection]) -> np.ndarray:
    """The detections' boxes as one (n, 4) float32 array: x1, y1, x2, y2."""
    return np.array([d.box for d in detections], np.float32).reshape(-1, 4)


def counts_of(detections: list[Detection]) -> dict[str, int]:
    return dict(sorted(Counter(d.class_name for d in detections).items()))


# ONNX Runtime's execution providers a worker may run a model on, by short name. "openvino"
# is there when the image installs ``onnxruntime-openvino`` in place of ``onnxruntime``
# (the two packages cannot be installed side by side); it runs the graph at its own
# precision (FP32 or the file's INT8), so its detections are the model's, not a cheaper twin's.
# "openvino-bf16" is the same provider told to compute in bfloat16 (OpenVINO's inference
# precision hint), offered only on CPUs with native BF16 (AMX or AVX-512-BF16): it changes
# the numerics, so like every other provider it serves only once its boxes agree with the
# CPU provider's (``shared.tuning.AGREEMENT``).
PROVIDERS = {"cpu": "CPUExecutionProvider", "openvino": "OpenVINOExecutionProvider",
             "openvino-bf16": "OpenVINOExecutionProvider"}
BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of CPUs that compute BF16 natively


@functools.cache
def cpu_flags() -> frozenset[str]:
    """This CPU's instruction-set flags (Linux ``/proc/cpuinfo``, read once; empty elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def available_providers(flags: Set[str] | None = None) -> list[str]:
    """The short names of ``PROVIDERS`` this ONNX Runtime build (and, for BF16, this CPU) offers, ``cpu`` first."""
    have = set(ort.get_available_providers())
    bf16 = bool(set(BF16_FLAGS) & (cpu_flags() if flags is None else flags))
    return [name for name, ep in PROVIDERS.items() if ep in have and (bf16 or not name.endswith("-bf16"))]


def session_providers(provider: str, threads: int) -> list:
    """The ``providers`` argument of an InferenceSession for ``provider`` (the CPU provider as fallback)."""
    if provider not in available_providers():
        raise ValueError(f"execution provider {provider!r} is not in this ONNX Runtime or not for this CPU "
                         f"(available: {', '.join(available_providers())})")
    if provider.startswith("openvino"):
        options = {"device_type": "CPU", "precision": "FP32", "num_of_threads": str(threads)}
        if provider == "openvino-bf16":
            options = {"device_type": "CPU", "num_of_threads": str(threads),
                       "load_config": json.dumps({"CPU": {"INFERENCE_PRECISION_HINT": "bf16"}})}
        return [(PROVIDERS[provider], options), PROVIDERS["cpu"]]
    return [PROVIDERS[provider]]


class Detector:
    def __init__(self, model_path: Path, threads: int = 1, conf_threshold: float | None = None,
                 verify: bool = True, input_size: int | None = None, provider: str = "cpu"):
        model_path = Path(model_path)
        self.card = ModelCard.load(model_path)
        if verify and sha256_file(model_path) != self.card.sha256:
            raise ValueError(f"{model_path} does not match the checksum in its model card")
        self.size = input_size or self.card.input_size
        # the same file at another input size finds other things: a version of its own
        self.version = self.card.version + (f"@{self.size}" if self.size != self.card.input_size else "")
        self.classes = self.card.classes
        self.threshold = self.card.threshold_at(self.size)  # what is served at this size
        self.shelf_limits = self.card.shelf_check_at(self.size)  # the not-a-shelf check's, at this size
        self.conf = self.threshold if conf_threshold is None else conf_threshold
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.provider = provider  # the execution provider that runs the graph (``PROVIDERS``)
        self.session = ort.InferenceSession(str(model_path), opts, providers=session_providers(provider, threads))
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        # a dynamic-shape model takes rectangles (sides a multiple of the stride), a static one squares
        self.stride = STRIDE if not all(isinstance(d, int) for d in inp.shape[2:]) else None

    # --- the three stages -----------------------------------------------------------
    def preprocess(self, photo: bytes) -> tuple[np.ndarray, tuple[Decoded, float, int, int]]:
        """JPEG/PNG bytes → a CHW float tensor and what is needed to map boxes back."""
        return self.to_tensor(decode(photo, target_size=self.size), self.size)

    def to_tensor(self, decoded: Decoded, size: int) -> tuple[np.ndarray, tuple[Decoded, float, int, int]]:
        """Decoded pixels letterboxed to ``size`` as a CHW float tensor, and what maps boxes back."""
        img, r, px, py = letterbox(decoded.image, size, self.stride)
        tensor = cv2.dnn.blobFromImage(img, 1 / 255.0, swapRB=True)[0]
        return tensor, (decoded, r, px, py)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(B, 3, S, S) float32 → raw YOLO output (B, 4 + classes, anchors)."""
        return self.session.run(None, {self.input_name: batch})[0]

    def postprocess(self, raw: np.ndarray, meta: tuple[Decoded, float, int, int]) -> list[Detection]:
        decoded, r, px, py = meta
        pred = raw.T  # (anchors, 4 + classes)
        scores = pred[:, 4:]
        cls = scores.argmax(1)
        conf = scores[np.arange(len(cls)), cls]
        keep = conf >= self.conf
        if not keep.any():
            return []
        xywh, cls, conf = pred[keep, :4], cls[keep], conf[keep]
        # class-aware NMS through one call: offset each class's boxes apart
        boxes = np.empty_like(xywh)
        boxes[:, :2] = xywh[:, :2] - xywh[:, 2:] / 2
        boxes[:, 2:] = xywh[:, 2:]
        shifted = boxes.copy()
        shifted[:, :2] += (cls * 4 * self.size)[:, None]
        # no top_k here: OpenCV applies it to the candidates *before* suppression, which on a
        # dense shelf (several candidates per product) silently dropped whole products
        kept = cv2.dnn.NMSBoxes(shifted.tolist(), conf.tolist(), self.conf, self.card.iou_threshold)
        idx = np.asarray(kept, dtype=np.int64).reshape(-1)  # sorted by score, best first
        if self.card.contain_threshold is not None and len(idx) > 1:
            nested = nested_in_higher(shifted[idx], self.card.contain_threshold, self.card.keep_layers)
            idx = idx[~nested]  # shifted: per class
        idx = idx[: self.card.max_det]
        k = (decoded.scale_to_original / r)
        out = []
        for i in idx:
            x, y, w, h = boxes[i]
            x1 = float(np.clip((x - px) * k, 0, decoded.width))
            y1 = float(np.clip((y - py) * k, 0, decoded.height))
            x2 = float(np.clip((x + w - px) * k, 0, decoded.width))
            y2 = float(np.clip((y + h - py) * k, 0, decoded.height))
            if x2 - x1 < 0.5 or y2 - y1 < 0.5:
                continue  # a box in the letterbox padding clips to nothing: not a product facing
            c = int(cls[i])
            out.append(Detection(c, self.classes[c], float(conf[i]), (x1, y1, x2, y2)))
        return out

    # --- close-ups -------------------------------------------------------------------
    def zoom_size(self, found: list[Detection], meta: tuple[Decoded, float, int, int]) -> int | None:
        """The smaller input size to run a close-up photo at again, or None.

        The model learnt products a few dozen input pixels across (real shelves: a median
        of ~34 px at 640). On a close-up, products 70+ px across, it is unsure of them
        and undercounts; the same photo at 0.8 of the size brings them back into range.
        Whether a photo is a close-up is read off its detections at the served threshold
        (the card's at this size, not the caller's), so evaluation at any threshold sees what is served. Measured
        on v9, synthetic shelves: count error 4.15 % → 3.6 % and 3.5 → 3.3 % on the two
        sets the rule was tuned on, 3.6 → 2.7 % on the fixed val set; none of the 232
        real photos here is a close-up by this rule.
        """
        zoom = self.card.zoom_out
        if not zoom or self.stride is None:  # a static-shape model has one input size
            return None
        sure = np.array([d.box for d in found if d.confidence >= self.threshold]).reshape(-1, 4)
        if not len(sure):
            return None
        decoded, r, _, _ = meta
        side = np.median(np.sqrt((sure[:, 2] - sure[:, 0]) * (sure[:, 3] - sure[:, 1])))
        if side * r / decoded.scale_to_original <= zoom["median_side"]:  # in input pixels
            return None
        return max(STRIDE, round(self.size * zoom["factor"] / STRIDE) * STRIDE)

    # --- convenience ----------------------------------------------------------------
    def detect_many(self, photos: list[bytes], batch: int = 1) -> list[list[Detection] | Exception]:
        """Detections per photo; a photo that cannot be decoded yields its exception.

        ``batch`` photos go through the model per call; 1 is fastest on this CPU
        (measured in the benchmarks), larger values are supported for other hardware.
        """
        results: list[list[Detection] | Exception] = [[] for _ in photos]
        ready: list[tuple[int, np.ndarray, tuple]] = []
        # seconds per photo of the last call, for the workers' metrics: decode (+ letterbox), and
        # the model with its post-processing (a shared model call is split evenly)
        self.last_decode_s: list[float] = []
        self.last_infer_s: list[float] = []
        # each photo's pixels as the model's decode left them (None: undecodable), for the
        # analytics to reuse rather than decode the photo again
        self.last_decoded: list[Decoded | None] = [None] * len(photos)
        for i, photo in enumerate(photos):
            t0 = time.perf_counter()
            try:
                tensor, meta = self.preprocess(photo)
                self.last_decoded[i] = meta[0]
                ready.append((i, tensor, meta))
            except Exception as exc:  # noqa: BLE001 - reported per photo
                results[i] = exc
            self.last_decode_s.append(time.perf_counter() - t0)
        # only photos of one input shape share a model call: padding a photo further to
        # match another's shape would change what the model sees at its edges
        by_shape: dict[tuple, list] = {}
        for item in ready:
            by_shape.setdefault(item[1].shape, []).append(item)
        chunks = [g[s : s + batch] for g in by_shape.values() for s in range(0, len(g), batch)]
        for chunk in chunks:
            t0 = time.perf_counter()
            raw = self.predict(np.stack([t for _, t, _ in chunk]))
            shared_s = (time.perf_counter() - t0) / len(chunk)
            for (i, _, meta), out in zip(chunk, raw, strict=True):
                t1 = time.perf_counter()
                found = self.postprocess(out, meta)
                size = self.zoom_size(found, meta)
                if size:  # a close-up: its detections come from the smaller input instead (same pixels)
                    tensor, meta = self.to_tensor(meta[0], size)
                    found = self.postprocess(self.predict(tensor[None])[0], meta)
                results[i] = found
                self.last_infer_s.append(shared_s + time.perf_counter() - t1)
        return results

    def detect(self, photo: bytes) -> list[Detection]:
        result = self.detect_many([photo])[0]
        if isinstance(result, Exception):
            raise result
        return result
