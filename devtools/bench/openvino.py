"""ONNX Runtime's OpenVINO execution provider, timed model-only, in *another* interpreter.

``onnxruntime-openvino`` ships its own ``onnxruntime`` package, which replaces the
project's ``onnxruntime`` when both are installed. So it lives in a throw-away venv and
the benchmark runs this file with that venv's python (``--ort-openvino-python``). Only
numpy and onnxruntime are imported here, on purpose, and the project's ``shared.detector``
(numpy, OpenCV and onnxruntime): its sessions are built as a worker's are, and its
detections give the agreement with the CPU provider that ``MODEL_TUNE`` checks.

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


def time_sessions(paths: dict[str, tuple[str, str]], x: np.ndarray, threads: int, runs: int) -> dict:
    """Median and p95 ms per call of each (model file, provider), model only, taking turns
    call by call, so a busy minute on a shared machine falls on every form alike."""
    import onnxruntime as ort

    from shared.detector import session_providers

    sessions = {}
    for key, (path, provider) in paths.items():
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        sessions[key] = ort.InferenceSession(path, opts, providers=session_providers(provider, threads))
    times: dict[str, list[float]] = {key: [] for key in sessions}
    for _ in range(3):
        for sess in sessions.values():
            sess.run(None, {sess.get_inputs()[0].name: x})
    for _ in range(runs):
        for key, sess in sessions.items():
            t = time.perf_counter()
            sess.run(None, {sess.get_inputs()[0].name: x})
            times[key].append((time.perf_counter() - t) * 1e3)
    out = {}
    for key, ts in times.items():
        ts.sort()
        out[key] = {"median": round(statistics.median(ts), 2), "p95": round(ts[int(0.95 * (len(ts) - 1))], 2),
                    "n": runs, "providers": sessions[key].get_providers()}
    return out


def agreement(path: str, photos: list[str], threads: int, provider: str) -> float:
    """The worst photo's box F1 between the provider's detections and the CPU provider's, through
    ShelfWatch's own ``Detector`` (what ``MODEL_TUNE`` checks before it trusts a provider)."""
    from pathlib import Path

    from shared.detector import Detector
    from shared.tuning import box_f1

    cpu = Detector(Path(path), threads=threads, verify=False)
    other = Detector(Path(path), threads=threads, verify=False, provider=provider)
    scores = []
    for photo in photos:
        data = Path(photo).read_bytes()
        a, b = (np.array([d.box for d in det.detect(data)], np.float32).reshape(-1, 4) for det in (cpu, other))
        scores.append(box_f1(a, b))
    return round(min(scores), 3)


def main(spec_path: str) -> int:
    """Every form a worker built on this ONNX Runtime could run: each model file on each
    provider (``shared.detector.available_providers``: the CPU provider, OpenVINO's, and its
    BF16 variant on CPUs that have BF16), keyed ``label`` for OpenVINO's FP32/INT8 run and
    ``label+provider`` for the others."""
    with open(spec_path) as f:
        spec = json.load(f)
    if spec.get("cores"):
        os.sched_setaffinity(0, set(spec["cores"]))
    import onnxruntime as ort

    from shared.detector import available_providers

    x = np.load(spec["input"])
    providers = available_providers()
    out: dict = {"onnxruntime": ort.__version__, "providers": ort.get_available_providers(),
                 "shelfwatch_providers": providers, "threads": spec["threads"]}
    forms = {(label if provider == "openvino" else f"{label}+{provider}"): (path, provider)
             for provider in providers for label, path in spec["models"].items()}
    try:
        out.update(time_sessions(forms, x, spec["threads"], spec.get("runs", 20)))
    except Exception as exc:  # noqa: BLE001 - reported, the benchmark goes on
        out["error"] = f"{type(exc).__name__}: {exc}"[:300]
        return _print(out)
    for key, (path, provider) in forms.items():
        if provider != "cpu" and spec.get("photos"):
            try:
                out[key]["agreement_f1"] = agreement(path, spec["photos"], spec["threads"], provider)
            except Exception as exc:  # noqa: BLE001
                out[key]["agreement_error"] = f"{type(exc).__name__}: {exc}"[:300]
    if spec.get("map_images"):  # the accuracy gate: each form's mAP50 beside the CPU provider's FP32
        from pathlib import Path

        from devtools.bench.children import detector_map
        from shared.detector import Detector

        for key, (path, provider) in forms.items():
            out[key]["map"] = detector_map(Detector(Path(path), spec["threads"], verify=False, provider=provider),
                                           spec)
    agreed = {key: out[key]["agreement_f1"] for key in forms if "agreement_f1" in out[key]}
    out["tune"] = tune_choice(forms, spec, agreed)
    return _print(out)


def tune_choice(forms: dict[str, tuple[str, str]], spec: dict, agreed: dict[str, float]) -> dict:
    """What ``MODEL_TUNE`` picks among these forms on this CPU, by the worker's own rule
    (``shared.tuning.choose``: the INT8 file on the CPU provider unless another form, whose
    boxes agree, is ``MARGIN`` faster), timed afresh in turns; its answer and timings."""
    import tempfile
    from pathlib import Path

    from shared import tuning
    from shared.detector import Detector

    dets = {key: Detector(Path(path), spec["threads"], verify=False, provider=provider)
            for key, (path, provider) in forms.items()}
    name = {key: tuning.form_name(d.version, d.provider) for key, d in dets.items()}
    registered = next(name[k] for k, (_, p) in forms.items() if p == "cpu" and dets[k].version.endswith("-int8"))
    x = np.load(spec["input"])
    calls = {name[k]: (lambda d=d: d.predict(x)) for k, d in dets.items()}
    checks = {name[k]: (lambda f1=f1: f1) for k, f1 in agreed.items()}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "tuning.json"
        choice = tuning.choose(cache, registered, dets[next(iter(dets))].size, spec["threads"], calls, checks)
        kept = next(iter(tuning.known(cache).values()))
    return {"choice": choice, "registered": registered, "ms": kept["ms"], "rejected": kept["rejected"]}


def _print(out: dict) -> int:
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
