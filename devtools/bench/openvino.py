"""ONNX Runtime's OpenVINO execution provider, timed model-only, in *another* interpreter.

``onnxruntime-openvino`` ships its own ``onnxruntime`` package, which replaces the
project's ``onnxruntime`` when both are installed. So it lives in a throw-away venv and
the benchmark runs this file with that venv's python (``--ort-openvino-python``). Only
numpy and onnxruntime are imported here, on purpose, and the project's ``shared.detector``
(numpy, OpenCV and onnxruntime) for the detections' agreement with the CPU provider.

    PYTHONPATH=. /tmp/ortov/bin/python -m devtools.bench.openvino SPEC.json   # prints a JSON result

(``devtools.bench.engine`` runs it so, with PYTHONPATH set to the folder holding ``devtools``.)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import numpy as np


def time_session(path: str, x: np.ndarray, threads: int, provider: tuple[str, dict], runs: int) -> dict:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=[provider, "CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    for _ in range(3):
        sess.run(None, {name: x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {name: x})
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return {"median": round(statistics.median(times), 2), "p95": round(times[int(0.95 * (len(times) - 1))], 2),
            "n": runs, "providers": sess.get_providers()}


def agreement(path: str, photos: list[str], threads: int) -> float:
    """The worst photo's box F1 between the EP's detections and the CPU provider's, through
    ShelfWatch's own ``Detector`` (what ``MODEL_TUNE`` checks before it trusts a provider)."""
    from pathlib import Path

    from shared.detector import Detector
    from shared.tuning import box_f1

    cpu = Detector(Path(path), threads=threads, verify=False)
    ov = Detector(Path(path), threads=threads, verify=False, provider="openvino")
    scores = []
    for photo in photos:
        data = Path(photo).read_bytes()
        a, b = (np.array([d.box for d in det.detect(data)], np.float32).reshape(-1, 4) for det in (cpu, ov))
        scores.append(box_f1(a, b))
    return round(min(scores), 3)


def main(spec_path: str) -> int:
    with open(spec_path) as f:
        spec = json.load(f)
    if spec.get("cores"):
        os.sched_setaffinity(0, set(spec["cores"]))
    import onnxruntime as ort

    x = np.load(spec["input"])
    ep = ("OpenVINOExecutionProvider", {"device_type": "CPU", "precision": "FP32",
                                        "num_of_threads": str(spec["threads"])})
    out = {"onnxruntime": ort.__version__, "providers": ort.get_available_providers(), "threads": spec["threads"]}
    for label, path in spec["models"].items():
        try:
            out[label] = time_session(path, x, spec["threads"], ep, spec.get("runs", 20))
            if spec.get("photos"):
                out[label]["agreement_f1"] = agreement(path, spec["photos"], spec["threads"])
        except Exception as exc:  # noqa: BLE001 - reported, the benchmark goes on
            out[label] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
