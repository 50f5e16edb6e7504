"""What runs inside one engine-benchmark child process (``python -m devtools.bench.children``).

Every engine (ShelfWatch FP32/INT8, Ultralytics, OpenVINO) at every thread count runs in
its own process, pinned to given cores before anything heavy is imported: a runtime's
thread pool, allocator and caches then cannot leak into the next measurement, and all
engines get exactly the same cores. The parent (``devtools.bench.engine``) writes a spec JSON,
the child writes a result JSON.

Timing is always from JPEG bytes in memory (decode and resize count, file reads do not),
unless the key says ``model_only``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from devtools.bench.timing import big_photos, model_only, stats_ms, time_calls, time_chunks

if TYPE_CHECKING:  # imported for real only after the child is pinned to its cores
    from shared.detector import Detector

# --- accuracy ---------------------------------------------------------------------------

def map_of(detect: Callable[[bytes], tuple[np.ndarray, np.ndarray, np.ndarray]], images: list[str],
           labels_dir: str, classes: list[str], conf_threshold: float) -> dict:
    """mAP50 (and friends) with shared.accuracy's matching, for any engine.

    ``detect`` maps photo bytes to (boxes xyxy in photo pixels, confidences, class ids).
    """
    from shared import accuracy as evaluate
    from shared.imaging import read_header

    photos = []
    for path in images:
        data = Path(path).read_bytes()
        boxes, conf, cls = detect(data)
        header = read_header(data)
        truth = evaluate.load_labels(Path(labels_dir) / (Path(path).stem + ".txt"), header.width, header.height)
        photos.append((np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(conf, np.float32),
                       np.asarray(cls, int), truth))
    m = evaluate.metrics({"photos": photos, "classes": classes, "card_threshold": conf_threshold})
    return {k: m[k] for k in ("map50", "map50_95", "precision", "recall", "count_error", "photos")}


def detector_map(det: Detector, spec: dict) -> dict:
    """mAP of a ShelfWatch Detector (its own pre/post-processing), at confidence 0.001."""
    served = det.conf
    det.conf = 0.001

    def detect(data: bytes):
        found = det.detect(data)
        return [d.box for d in found], [d.confidence for d in found], [d.class_id for d in found]

    try:
        return map_of(detect, spec["map_images"], spec["map_labels"], det.classes, served)
    finally:
        det.conf = served


# --- the engines ----------------------------------------------------------------------

def run_shelfwatch(spec: dict, real: list[bytes]) -> dict:
    from shared.detector import Detector

    det = Detector(Path(spec["model"]), threads=spec["threads"])
    out: dict = {"version": det.version}
    out["e2e"] = {str(b): time_chunks(functools.partial(det.detect_many, batch=b), real, b) for b in spec["batches"]}
    x1 = det.preprocess(real[0])[0][None]
    out["model_only"] = model_only(det.predict, x1, spec["model_batches"], spec["model_images"])
    if spec.get("stages"):
        out["stages_ms"] = shelfwatch_stages(det, real)
    if spec.get("big"):
        big = big_photos(real, spec["big"])
        out["photo_12mp_ms"] = stats_ms(time_calls(lambda: [det.detect(b) for b in big], runs=2, warmup=1))
        out["photo_12mp_ms"]["per_photo_median"] = round(out["photo_12mp_ms"]["median"] / len(big), 1)
    if spec.get("map_images"):
        out["map"] = detector_map(det, spec)
    return out


def shelfwatch_stages(det: Detector, real: list[bytes]) -> dict:
    """Median ms of each stage at batch 1: where a photo's time goes."""
    from shared.imaging import decode

    t: dict[str, list[float]] = {"decode": [], "preprocess": [], "model": [], "postprocess": []}
    for data in real:
        a = time.perf_counter()
        decode(data, target_size=det.size)
        b = time.perf_counter()
        tensor, meta = det.preprocess(data)
        c = time.perf_counter()
        raw = det.predict(tensor[None])
        d = time.perf_counter()
        det.postprocess(raw[0], meta)
        e = time.perf_counter()
        for k, v in zip(t, (b - a, c - b, d - c, e - d), strict=True):
            t[k].append(v)
    med = {k: round(statistics.median(v) * 1e3, 2) for k, v in t.items()}
    return {"decode": med["decode"], "letterbox_blob": round(med["preprocess"] - med["decode"], 2),
            "model": med["model"], "postprocess": med["postprocess"]}


def _ultralytics_session(model, path: str, threads: int) -> None:
    """Give Ultralytics' ONNX Runtime session the same thread count as ours.

    Ultralytics builds ``InferenceSession(weight, None, providers=[CPU])``: ONNX Runtime's
    default intra-op pool (one thread per physical core, whatever the affinity). A fair
    same-threads comparison replaces it with one built like ShelfWatch's.
    """
    import onnxruntime as ort

    backend = model.predictor.model.backend
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    backend.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def _imread(data: bytes):
    import cv2

    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def _ultralytics(spec: dict, model_path: str, real: list[bytes]):
    """An Ultralytics YOLO on the ONNX file, offline, with our thread count; and its predict kwargs."""
    from training import offline

    offline.configure(Path(spec["workdir"]))
    import torch

    torch.set_num_threads(spec["threads"])
    from ultralytics import YOLO

    model = YOLO(model_path, task="detect")
    card = spec["card"]
    kw = {"imgsz": card["input_size"], "conf": card["conf_threshold"], "iou": card["iou_threshold"],
          "max_det": card["max_det"], "verbose": False}
    model.predict(source=_imread(real[0]), **kw)  # builds the predictor and its session
    _ultralytics_session(model, model_path, spec["threads"])
    return model, kw


def run_side_by_side(spec: dict, real: list[bytes]) -> dict:
    """Ultralytics, ShelfWatch FP32 and ShelfWatch INT8 in one process, taking turns.

    The machine is shared and its speed drifts over minutes, so engines timed one after
    the other are compared across different conditions. Here each round times every
    engine once over all the photos (batch 1, JPEG bytes to detections), in a rotated
    order; a ratio is taken within each round and the median over rounds is reported.
    """
    from shared.detector import Detector

    model, kw = _ultralytics(spec, spec["fp32"], real)
    engines = {
        "ultralytics": lambda data: model.predict(source=_imread(data), **kw),
        "fp32": Detector(Path(spec["fp32"]), threads=spec["threads"]).detect,
        "int8": Detector(Path(spec["int8"]), threads=spec["threads"]).detect,
    }
    for run in engines.values():  # every input shape once: sessions plan each new shape
        for data in real:
            run(data)
    names = list(engines)
    rounds: list[dict[str, float]] = []
    for r in range(spec["rounds"]):
        ips = {}
        for name in names[r % len(names):] + names[: r % len(names)]:
            t = time.perf_counter()
            for data in real:
                engines[name](data)
            ips[name] = len(real) / (time.perf_counter() - t)
        rounds.append(ips)

    def med(f) -> float:
        return round(statistics.median(f(x) for x in rounds), 3)

    return {"model_only": model_only_side_by_side(spec, real),
            "rounds": len(rounds), "photos": len(real),
            "images_per_s": {k: med(lambda x, k=k: x[k]) for k in names},
            "ratios": {"int8_vs_ultralytics": med(lambda x: x["int8"] / x["ultralytics"]),
                       "int8_vs_fp32": med(lambda x: x["int8"] / x["fp32"]),
                       "fp32_vs_ultralytics": med(lambda x: x["fp32"] / x["ultralytics"])}}


def model_only_side_by_side(spec: dict, real: list[bytes]) -> dict:
    """Model call alone (batch 1, one real photo's tensor): ORT FP32, ORT INT8 and every
    OpenVINO variant taking turns, ``spec["rounds"]`` rounds of 10 calls each; per round
    the median ms of each, then the median over rounds of each ms and of each ratio."""
    from shared.detector import Detector

    fp32 = Detector(Path(spec["fp32"]), threads=spec["threads"])
    x = fp32.preprocess(real[0])[0][None]
    int8 = Detector(Path(spec["int8"]), threads=spec["threads"])
    calls: dict[str, Callable[[], object]] = {"fp32": functools.partial(fp32.predict, x),
                                              "int8": functools.partial(int8.predict, x)}
    try:
        for name, predict in openvino_variants(spec).items():
            calls[f"openvino_{name}"] = functools.partial(predict, x)
    except ImportError:
        pass
    names = list(calls)
    rounds: list[dict[str, float]] = []
    for r in range(spec["rounds"]):
        ms = {}
        for name in names[r % len(names):] + names[: r % len(names)]:
            ms[name] = statistics.median(time_calls(calls[name], runs=10, warmup=2)) * 1e3
        ov = [v for k, v in ms.items() if k.startswith("openvino_")]
        ms["openvino_best"] = min(ov) if ov else math.nan
        rounds.append(ms)
    keys = [*names, "openvino_best"]
    out = {"ms": {k: round(statistics.median(r[k] for r in rounds), 2) for k in keys},
           "ratio_int8_vs_fp32": round(statistics.median(r["fp32"] / r["int8"] for r in rounds), 3),
           "ratio_int8_vs_openvino": round(statistics.median(r["openvino_best"] / r["int8"] for r in rounds), 3),
           "input_shape": list(x.shape)}
    return out


def run_ultralytics(spec: dict, real: list[bytes]) -> dict:
    model, kw = _ultralytics(spec, spec["model"], real)
    card = spec["card"]
    imread = _imread
    speeds: list[dict] = []

    def run(chunk: list[bytes]):
        imgs = [imread(b) for b in chunk]
        res = model.predict(source=imgs if len(imgs) > 1 else imgs[0], batch=len(imgs), **kw)
        if len(imgs) == 1:
            speeds.append(res[0].speed)
        return res

    out: dict = {"version": __import__("ultralytics").__version__}
    out["e2e"] = {str(b): time_chunks(run, real, b) for b in spec["batches"]}
    if speeds:
        out["stages_ms"] = {k: round(statistics.median(s[k] for s in speeds), 2) for k in speeds[0]}
        decode_s = time_calls(lambda: [imread(b) for b in real[:8]], runs=1, warmup=0)[0]
        out["stages_ms"]["decode"] = round(decode_s * 1e3 / len(real[:8]), 2)
    if spec.get("big"):
        big = big_photos(real, spec["big"])
        out["photo_12mp_ms"] = stats_ms(time_calls(lambda: [run([b]) for b in big], runs=2, warmup=1))
        out["photo_12mp_ms"]["per_photo_median"] = round(out["photo_12mp_ms"]["median"] / len(big), 1)
    if spec.get("map_images"):
        mkw = {**kw, "conf": 0.001}

        def detect(data: bytes):
            r = model.predict(source=imread(data), **mkw)[0].boxes
            return r.xyxy.numpy(), r.conf.numpy(), r.cls.numpy().astype(int)

        out["map"] = map_of(detect, spec["map_images"], spec["map_labels"], card["classes"], card["conf_threshold"])
    return out


def run_openvino(spec: dict, real: list[bytes]) -> dict:
    """OpenVINO on the same ONNX files: FP32 (f32, and bf16 only where the CPU has it), INT8."""
    import openvino as ov

    from shared.detector import Detector

    core = ov.Core()
    caps = list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    default_precision = str(core.get_property("CPU", "INFERENCE_PRECISION_HINT"))
    base = _openvino_base(spec)
    variants = _openvino_configs(spec, caps)
    class OpenVINOModel(Detector):
        """ShelfWatch's pre- and post-processing around OpenVINO's model call."""

        runtime: Callable[[np.ndarray], np.ndarray]

        def predict(self, batch: np.ndarray) -> np.ndarray:
            return self.runtime(batch)

    det = OpenVINOModel(Path(spec["fp32"]), threads=1, verify=False)  # its ONNX session is never run
    x1 = det.preprocess(real[0])[0][None]
    out: dict = {"version": ov.__version__, "capabilities": caps, "default_precision": default_precision,
                 "bf16_available": "BF16" in caps, "model_only": {}, "map": {}}
    for name, (path, extra) in variants.items():
        predict = _openvino_predictor(core, path, {**base, **extra})
        out["model_only"][name] = model_only(predict, x1, [1], spec["model_images"])["1"]
        if spec.get("map_images"):
            det.runtime = predict
            out["map"][name] = detector_map(det, spec)
    return out


def _openvino_base(spec: dict) -> dict:
    """Our thread count, latency mode, one stream: OpenVINO set up like ShelfWatch's ORT session."""
    import openvino.properties as props
    import openvino.properties.hint as hints

    return {props.inference_num_threads: spec["threads"], hints.performance_mode: hints.PerformanceMode.LATENCY,
            props.streams.num: 1}


def _openvino_configs(spec: dict, caps: list) -> dict[str, tuple[str, dict]]:
    import openvino as ov
    import openvino.properties.hint as hints

    variants = {"fp32_model_f32": (spec["fp32"], {hints.inference_precision: ov.Type.f32}),
                "int8_model": (spec["int8"], {})}
    if "BF16" in caps:
        variants["fp32_model_bf16"] = (spec["fp32"], {hints.inference_precision: ov.Type.bf16})
    return variants


def openvino_variants(spec: dict) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Predictors for OpenVINO's variants on this CPU, with our thread count (static shapes)."""
    import openvino as ov

    core = ov.Core()
    caps = list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    base = _openvino_base(spec)
    return {name: _openvino_predictor(core, path, {**base, **extra})
            for name, (path, extra) in _openvino_configs(spec, caps).items()}


def _openvino_predictor(core, path: str, config: dict) -> Callable[[np.ndarray], np.ndarray]:
    """OpenVINO's fastest form is a static shape: compile once per input shape the detector makes.

    ShelfWatch letterboxes to a rectangle (sides a multiple of 32), so OpenVINO gets exactly the
    same tensor shape as ONNX Runtime; the few shapes a photo set produces are compiled lazily.
    """
    compiled: dict[tuple[int, ...], tuple] = {}

    def predict(x: np.ndarray) -> np.ndarray:
        if x.shape not in compiled:
            model = core.read_model(path)
            model.reshape(list(x.shape))
            c = core.compile_model(model, "CPU", config)
            compiled[x.shape] = (c.create_infer_request(), c.output(0))
        req, port = compiled[x.shape]
        return np.array(req.infer({0: x})[port])

    return predict


ENGINES = {"shelfwatch": run_shelfwatch, "ultralytics": run_ultralytics, "openvino": run_openvino,
           "side_by_side": run_side_by_side}


def main(spec_path: str, out_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    if spec.get("cores"):
        os.sched_setaffinity(0, set(spec["cores"]))
    real = [Path(p).read_bytes() for p in spec["photos"]]
    t0 = time.perf_counter()
    result = ENGINES[spec["kind"]](spec, real)
    result.update(threads=spec["threads"], cores=sorted(os.sched_getaffinity(0)),
                  seconds=round(time.perf_counter() - t0, 1))
    Path(out_path).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
