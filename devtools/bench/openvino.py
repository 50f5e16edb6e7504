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

import functools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the child imports onnxruntime only once pinned to its cores
    import onnxruntime as ort


def ort_calls(paths: dict[str, tuple[str, str]], threads: int) -> dict[str, Callable[[np.ndarray], object]]:
    """One model call per (model file, provider), each session built as a worker builds it."""
    import onnxruntime as ort

    from shared.detector import session_providers

    calls: dict[str, Callable[[np.ndarray], object]] = {}
    for key, (path, provider) in paths.items():
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(path, opts, providers=session_providers(provider, threads))
        calls[key] = functools.partial(_run, sess)
    return calls


def _run(sess: ort.InferenceSession, x: np.ndarray) -> object:
    return sess.run(None, {sess.get_inputs()[0].name: x})


def openvino_runtime_calls(spec: dict) -> dict[str, Callable[[np.ndarray], object]]:
    """OpenVINO's own runtime on the same files, set up as the engine bench sets it up
    (``devtools.bench.children.openvino_variants``), where this venv has ``openvino`` too."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return {}
    from devtools.bench.children import openvino_variants

    return {f"openvino-runtime:{name}": call for name, call in openvino_variants({**spec, **spec["models"]}).items()}


def time_calls_in_turn(calls: dict[str, Callable[[np.ndarray], object]], x: np.ndarray, runs: int) -> dict:
    """Median and p95 ms per call of each, model only, taking turns call by call, so a busy
    minute on a shared machine falls on every form alike."""
    times: dict[str, list[float]] = {key: [] for key in calls}
    for _ in range(3):
        for call in calls.values():
            call(x)
    for _ in range(runs):
        for key, call in calls.items():
            t = time.perf_counter()
            call(x)
            times[key].append((time.perf_counter() - t) * 1e3)
    out = {}
    for key, ts in times.items():
        ts.sort()
        out[key] = {"median": round(statistics.median(ts), 2), "p95": round(ts[int(0.95 * (len(ts) - 1))], 2),
                    "n": runs}
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
        calls = {**ort_calls(forms, spec["threads"]), **openvino_runtime_calls(spec)}
        out.update(time_calls_in_turn(calls, x, spec.get("runs", 20)))
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
    native = {k: v["median"] for k, v in out.items() if k.startswith("openvino-runtime:")}
    chosen = next((k for k in forms if tuning_name(k, forms, spec) == out["tune"]["choice"]), None)
    if native and chosen:  # the figure, all timed in the same turns: ≥ 1 means ours is faster
        best = min(native, key=native.__getitem__)
        out["openvino_runtime_best"] = {"form": best, "ms": native[best]}
        out["engine_choice"] = {"form": chosen, "ms": out[chosen]["median"]}
        out["ratio_openvino_best_vs_engine_choice"] = round(native[best] / out[chosen]["median"], 2)
    return _print(out)


def tuning_name(key: str, forms: dict[str, tuple[str, str]], spec: dict) -> str:
    """The name ``shared.tuning`` gives the form ``key`` (``version+provider``)."""
    from pathlib import Path

    from shared import tuning
    from shared.detector import ModelCard

    path, provider = forms[key]
    return tuning.form_name(ModelCard.load(Path(path)).version, provider)


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
