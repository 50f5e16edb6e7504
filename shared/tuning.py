"""The fastest form of a model on this CPU: INT8 or its FP32 twin, on each execution provider, measured.

INT8 pays where the CPU has VNNI (AVX-512 or AVX-VNNI); on an AVX2-only CPU ONNX Runtime's
INT8 convolutions are no faster than FP32, and the FP32 twin (the same weights, the
reference the INT8 file was gated against, within 1 mAP50 point) can be the faster path.
``choose`` times the candidates side by side on this machine, model only, with the
worker's thread count, and keeps the answer in a small JSON file keyed by the CPU (model
name and instruction sets), the version, the input size, the threads and the ONNX Runtime
version: a worker pays the measurement once per machine type, not per start.

Where the ONNX Runtime build has another execution provider (``onnxruntime-openvino``:
``shared.detector.PROVIDERS``), each form is also timed on it, named ``version+openvino``,
once its detections on the check photos agree with the CPU provider's (box F1 of at least
``AGREEMENT``): measured on an AVX2 EPYC, OpenVINO's run of the FP32 file found the very
same boxes, its run of the INT8 file 55 % more (F1 0.67), so it is refused. On a CPU with
native BF16 (AMX, AVX-512-BF16) the same provider computing in bfloat16 (``openvino-bf16``)
is a candidate too, under the same check. A result is always
recorded under the version that produced it (``shelfwatch-v11-fp32`` when the twin ran),
so re-scans, canaries and the accuracy watch see the truth; the provider is in the log
line and in ``shelfwatch_model_info``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

log = logging.getLogger("shelfwatch.tuning")
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")
MARGIN = 0.05  # the twin must be this much faster to replace the registered form
AGREEMENT = 0.98  # another provider's detections must match the CPU provider's this well (box F1)


def twin(version: str) -> str | None:
    """``shelfwatch-v11-int8`` ↔ ``shelfwatch-v11-fp32``; None for a version with no twin by name."""
    for a, b in (("-int8", "-fp32"), ("-fp32", "-int8")):
        if version.endswith(a):
            return version.removesuffix(a) + b
    return None


def form_name(version: str, provider: str = "cpu") -> str:
    """A candidate's name: the version, with ``+provider`` when another execution provider runs it."""
    return version if provider == "cpu" else f"{version}+{provider}"


def parse_form(name: str) -> tuple[str, str]:
    """``shelfwatch-v11-int8+openvino`` → (``shelfwatch-v11-int8``, ``openvino``); no suffix: the CPU provider."""
    version, _, provider = name.partition("+")
    return version, provider or "cpu"


def cpu_key() -> str:
    """The CPU as far as inference speed goes: its model name and the instruction sets that matter."""
    from shared.detector import cpu_flags

    name = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    flags = cpu_flags()
    return f"{name} [{' '.join(f for f in FLAGS if f in flags)}]"


def _time(run: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def measure(candidates: Mapping[str, Callable[[], object]], rounds: int = 7) -> dict[str, float]:
    """Median ms per call of each candidate, run in turns (round after round), after one warm-up each."""
    for run in candidates.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, run in candidates.items():
            times[name].append(_time(run) * 1e3)
    return {name: round(statistics.median(t), 2) for name, t in times.items()}


def box_f1(a: np.ndarray, b: np.ndarray, iou: float = 0.5) -> float:
    """How far two sets of boxes (n, 4) agree: F1 of a greedy one-to-one match at ``iou``."""
    if not len(a) and not len(b):
        return 1.0
    if not len(a) or not len(b):
        return 0.0
    from shared.accuracy import iou_matrix

    m = iou_matrix(a, b)
    matched = 0
    while m.size and m.max() >= iou:
        i, j = np.unravel_index(int(m.argmax()), m.shape)
        matched += 1
        m[i, :], m[:, j] = -1, -1
    return 2 * matched / (len(a) + len(b))


def choose(cache: Path, registered: str, input_size: int, threads: int,
           candidates: Mapping[str, Callable[[], object]],
           agreement: Mapping[str, Callable[[], float]] | None = None) -> str:
    """The form to run for ``registered`` on this CPU (``registered`` unless another is MARGIN faster).

    ``candidates``: form name → one model call on a fixed input. ``agreement``: form name →
    how far its detections agree with its version's on the CPU provider (``box_f1`` over
    check photos); a form under ``AGREEMENT`` is not a candidate (another provider's run of
    an INT8 graph can find other boxes), and is kept in the answer as rejected. The answer
    is read from, or written to, ``cache``.
    """
    import onnxruntime as ort

    # the candidates are part of the question: a twin registered later, or another provider, asks again
    forms = "|".join(sorted(candidates))
    key = hashlib.sha256(f"{cpu_key()}|{registered}|{input_size}|{threads}|{ort.__version__}|{forms}".encode()
                         ).hexdigest()
    kept = known(cache)
    if key in kept and kept[key]["choice"] in candidates:
        log.info("graph form for %s at %d px, %d thread(s): %s (measured %s: model-only ms %s)", registered,
                 input_size, threads, kept[key]["choice"], kept[key]["at"], kept[key]["ms"])
        return str(kept[key]["choice"])
    agreed = {name: round(check(), 3) for name, check in (agreement or {}).items()}
    rejected = {name: f1 for name, f1 in agreed.items() if f1 < AGREEMENT and name != registered}
    for name, f1 in rejected.items():
        log.warning("form %s is not a candidate: its detections agree with the CPU provider's at F1 %.3f "
                    "(under %.2f)", name, f1, AGREEMENT)
    ms = measure({name: run for name, run in candidates.items() if name not in rejected})
    best = min(ms, key=ms.__getitem__)
    choice = best if ms[best] < (1 - MARGIN) * ms[registered] else registered
    kept[key] = {"cpu": cpu_key(), "registered": registered, "input_size": input_size, "threads": threads,
                  "onnxruntime": ort.__version__, "ms": ms, "agreement": agreed, "rejected": sorted(rejected),
                  "choice": choice, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    _write(cache, kept)
    log.info("graph form for %s at %d px, %d thread(s) on %s: %s (model-only ms %s)", registered, input_size,
             threads, cpu_key(), choice, ms)
    return choice


def blank_input(input_size: int, rectangular: bool) -> np.ndarray:
    """A fixed input (grey, as the letterbox pads): a 4:3 photo's rectangle where the model takes one."""
    height = (input_size * 3 // 4 + 31) // 32 * 32 if rectangular else input_size
    return np.full((1, 3, height, input_size), 114 / 255.0, np.float32)


def known(cache: Path) -> dict:
    """Every measurement kept in ``cache`` (``{}`` when there is none yet)."""
    try:
        return json.loads(cache.read_text())
    except (OSError, ValueError):
        return {}


def _write(cache: Path, kept: dict) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.part")
    tmp.write_text(json.dumps(kept, indent=2))
    tmp.replace(cache)  # whole or not at all: another worker process may read it now
