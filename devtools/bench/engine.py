"""Engine benchmark: Ultralytics' predict loop vs ShelfWatch FP32 vs ShelfWatch INT8 vs OpenVINO.

Same model file, same photos, same cores, same threads. Each (engine, thread count) runs
in its own child process (``devtools.bench.children``) pinned to its cores; the ratios are taken
between figures measured side by side in one run, because absolute numbers on a shared
2-core machine move with whatever else runs.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import devtools
from shared.detector import ModelCard

LABELS = ("ultralytics", "fp32", "int8")  # (a), (b), (c) of the issue


@dataclass
class EngineConfig:
    int8: Path
    fp32: Path
    workdir: Path
    photos: list[Path]  # real shelf photos (JPEG), or synthetic ones when those are missing
    map_images: list[Path]
    map_labels: Path
    threads: list[int] = field(default_factory=lambda: [1, 2])
    batches: list[int] = field(default_factory=lambda: [1, 4, 8, 16])
    model_batches: list[int] = field(default_factory=lambda: [1, 4, 8, 16])
    model_images: int = 32  # images per model-only setting
    big: int = 2  # 12 MP photos timed
    cores: dict[int, list[int]] = field(default_factory=dict)  # threads → cores to pin to
    ort_openvino_python: str = ""
    ultralytics_int8: bool = True  # also Ultralytics on the INT8 file: pipeline vs quantization gains
    timeout: float = 900
    rounds: int = 5  # side-by-side rounds (the headline ratios)


# --- children -------------------------------------------------------------------------

def run_child(spec: dict, name: str, workdir: Path, log: Callable[[str], None], timeout: float = 900) -> dict:
    """Run one child to completion; a failure is reported in the result, never raised."""
    folder = workdir / "children"
    folder.mkdir(parents=True, exist_ok=True)
    spec_path, out_path = folder / f"{name}.spec.json", folder / f"{name}.json"
    out_path.unlink(missing_ok=True)
    spec_path.write_text(json.dumps(spec, indent=1, default=str))
    n = str(spec["threads"])
    env = {**os.environ, "OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n,
           "YOLO_VERBOSE": "False", "PYTHONUNBUFFERED": "1"}
    t0 = time.perf_counter()
    try:
        cmd = [sys.executable, "-m", "devtools.bench.children", str(spec_path), str(out_path)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)  # noqa: S603 - fixed argument list
    except subprocess.TimeoutExpired:
        log(f"  {name}: timed out after {timeout:.0f} s")
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0 or not out_path.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
        log(f"  {name}: FAILED (exit {proc.returncode}): {' | '.join(tail)}")
        return {"error": "\n".join(tail)}
    log(f"  {name}: {time.perf_counter() - t0:.0f} s")
    return json.loads(out_path.read_text())


def run_ort_openvino(cfg: EngineConfig, threads: int, x_path: Path, log: Callable[[str], None],
                     accuracy: bool = False) -> dict:
    """ONNX Runtime's OpenVINO EP from a separate venv (it cannot live beside onnxruntime).

    That venv has numpy, opencv-python-headless and onnxruntime-openvino, not this project: the child module
    (``devtools.bench.openvino``) is found through PYTHONPATH, set to the folder that holds
    the ``devtools`` package this process imported.
    """
    spec = {"threads": threads, "cores": cfg.cores.get(threads), "input": str(x_path), "runs": 20,
            "models": {"fp32": str(cfg.fp32), "int8": str(cfg.int8)}, "photos": [str(p) for p in cfg.photos[:4]]}
    if accuracy:  # each form's mAP50, for the gate (once, at the first thread count)
        spec |= {"map_images": [str(p) for p in cfg.map_images], "map_labels": str(cfg.map_labels)}
    spec_path = cfg.workdir / "children" / f"ort-openvino-t{threads}.spec.json"
    spec_path.write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONPATH": str(Path(devtools.__path__[0]).parent)}
    try:
        proc = subprocess.run(  # noqa: S603 - the python the user named, running a fixed module
            [cfg.ort_openvino_python, "-m", "devtools.bench.openvino", str(spec_path)],
            env=env, capture_output=True, text=True, timeout=cfg.timeout)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        log(f"  ort-openvino-t{threads}: FAILED: {exc!r}")
        return {"error": repr(exc)}
    log(f"  ort-openvino-t{threads}: done")
    return result


def save_input_tensor(cfg: EngineConfig) -> Path:
    """One real photo, preprocessed as the detector does, for runtimes outside this venv."""
    import numpy as np

    from shared.detector import Detector

    det = Detector(cfg.fp32, threads=1, verify=False)
    path = cfg.workdir / "children" / "input.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, det.preprocess(cfg.photos[0].read_bytes())[0][None])
    return path


def child_specs(cfg: EngineConfig, threads: int, first: bool) -> dict[str, dict]:
    """The children for one thread count; accuracy, stages and 12 MP photos only once."""
    card = ModelCard.load(cfg.fp32).raw
    common = {"threads": threads, "cores": cfg.cores.get(threads), "photos": [str(p) for p in cfg.photos],
              "batches": cfg.batches, "model_batches": cfg.model_batches, "model_images": cfg.model_images,
              "workdir": str(cfg.workdir), "card": card, "fp32": str(cfg.fp32), "int8": str(cfg.int8)}
    once = {"map_images": [str(p) for p in cfg.map_images], "map_labels": str(cfg.map_labels),
            "stages": True, "big": cfg.big} if first else {}
    specs = {
        "int8": {**common, **once, "kind": "shelfwatch", "model": str(cfg.int8)},
        "fp32": {**common, **once, "kind": "shelfwatch", "model": str(cfg.fp32)},
        "ultralytics": {**common, **once, "kind": "ultralytics", "model": str(cfg.fp32)},
        "openvino": {**common, "kind": "openvino", **({"map_images": once["map_images"],
                                                      "map_labels": once["map_labels"]} if first else {})},
    }
    specs["side_by_side"] = {**common, "kind": "side_by_side", "rounds": cfg.rounds}
    if first and cfg.ultralytics_int8:
        specs["ultralytics_int8"] = {**common, "kind": "ultralytics", "model": str(cfg.int8), "batches": [1]}
    return specs


def run_engine(cfg: EngineConfig, log: Callable[[str], None] = print) -> dict:
    results: dict[str, dict[int, dict]] = {}
    for i, threads in enumerate(cfg.threads):
        log(f"engine: {threads} thread(s) on cores {cfg.cores.get(threads, 'any')}")
        for label, spec in child_specs(cfg, threads, first=i == 0).items():
            name = f"{label}-t{threads}"
            results.setdefault(label, {})[threads] = run_child(spec, name, cfg.workdir, log, cfg.timeout)
        if cfg.ort_openvino_python:
            x_path = save_input_tensor(cfg)
            results.setdefault("ort_openvino_ep", {})[threads] = run_ort_openvino(cfg, threads, x_path, log,
                                                                                  accuracy=i == 0)
    return aggregate(results, cfg)


# --- aggregation ----------------------------------------------------------------------

def _best_e2e(by_threads: dict[int, dict]) -> tuple[float, int, int]:
    """(images/s, threads, batch) of the fastest end-to-end setting."""
    best = (math.nan, 0, 0)
    for t, res in by_threads.items():
        for b, m in res.get("e2e", {}).items():
            if not best[0] >= m["images_per_s"]:  # also replaces NaN
                best = (m["images_per_s"], t, int(b))
    return best


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if a and b and not (math.isnan(a) or math.isnan(b)) else math.nan


def _model_best(by_threads: dict[int, dict], batch: str | None = None) -> float:
    """Lowest model-only ms per image over threads (and batches, unless one is given)."""
    vals = [m["per_image_ms"] for res in by_threads.values()
            for b, m in res.get("model_only", {}).items() if batch is None or b == batch]
    return min(vals) if vals else math.nan


def _openvino_best(by_threads: dict[int, dict]) -> float:
    vals = [v["median"] for res in by_threads.values() for v in res.get("model_only", {}).values()]
    return min(vals) if vals else math.nan


def _ratios(ips: dict[str, float]) -> dict[str, float]:
    """The issue's three images/s ratios: (c)/(a), (c)/(b), (b)/(a)."""
    return {"int8_vs_ultralytics": _ratio(ips["int8"], ips["ultralytics"]),
            "int8_vs_fp32": _ratio(ips["int8"], ips["fp32"]),
            "fp32_vs_ultralytics": _ratio(ips["fp32"], ips["ultralytics"])}


def aggregate(results: dict[str, dict[int, dict]], cfg: EngineConfig) -> dict:
    e2e = {k: {str(t): r.get("e2e") for t, r in results.get(k, {}).items()} for k in (*LABELS, "ultralytics_int8")}
    best = {k: _best_e2e(results.get(k, {})) for k in LABELS}
    sequential = {k: best[k][0] for k in LABELS}
    out: dict = {
        "photos": {"count": len(cfg.photos), "source": str(cfg.photos[0].parent) if cfg.photos else ""},
        "threads": cfg.threads, "batches": cfg.batches,
        # the per-engine tables, each engine timed in its own child one after the other
        "sequential": {"images_per_s": sequential,
                       "best_setting": {k: {"threads": best[k][1], "batch": best[k][2]} for k in LABELS},
                       "ratios": _ratios(sequential)},
        "e2e": e2e,
    }
    # the headline: engines taking turns in one process (batch 1), ratios taken per round;
    # at the thread count where each engine is fastest
    sbs = {t: r for t, r in results.get("side_by_side", {}).items() if "ratios" in r}
    if sbs:
        top = {k: max(sbs, key=lambda t: sbs[t]["images_per_s"][k]) for k in LABELS}
        ips = {k: sbs[top[k]]["images_per_s"][k] for k in LABELS}
        out["images_per_s"] = ips
        out["best_setting"] = {k: {"threads": top[k], "batch": 1} for k in LABELS}
        out["ratios"] = _ratios(ips)
        out["side_by_side"] = {str(t): r for t, r in sbs.items()}
    else:  # no side-by-side result: fall back to the sequential tables, and say so
        out.update(images_per_s=sequential, best_setting=out["sequential"]["best_setting"],
                   ratios=out["sequential"]["ratios"], ratios_source="sequential (side-by-side failed)")
    ips = out["images_per_s"]
    out.update(model_only_section(results))
    mo = {t: r["model_only"] for t, r in sbs.items() if r.get("model_only")}
    if mo:  # the headline model-only ratios, too, from engines taking turns
        best_ms = {k: min(m["ms"][k] for m in mo.values()) for k in ("fp32", "int8", "openvino_best")}
        out["model_only_sequential"] = {k: out[k] for k in ("model_only_best_ms_per_image",
                                                            "model_only_ratio_int8_vs_fp32",
                                                            "model_only_ratio_int8_vs_openvino")}
        out["model_only_side_by_side"] = {str(t): m for t, m in mo.items()}
        out["model_only_best_ms_per_image"] = {"fp32": best_ms["fp32"], "int8": best_ms["int8"],
                                               "openvino": best_ms["openvino_best"]}
        out["model_only_ratio_int8_vs_fp32"] = _ratio(best_ms["fp32"], best_ms["int8"])
        out["model_only_ratio_int8_vs_openvino"] = _ratio(best_ms["openvino_best"], best_ms["int8"])
    out.update(accuracy_section(results))
    out["stages_ms"] = {k: results[k][cfg.threads[0]].get("stages_ms") for k in LABELS
                        if results.get(k, {}).get(cfg.threads[0], {}).get("stages_ms")}
    out["photo_12mp_ms_per_photo"] = {k: results[k][cfg.threads[0]]["photo_12mp_ms"]["per_photo_median"]
                                      for k in LABELS if "photo_12mp_ms" in results.get(k, {}).get(cfg.threads[0], {})}
    gflops = model_gflops(cfg.fp32, ModelCard.load(cfg.fp32).input_size)
    out["gflops_per_image"] = gflops
    if gflops:
        ms = out["model_only_best_ms_per_image"]
        out["gops"] = {"model_only": {k: round(gflops * 1e3 / v, 1) for k, v in ms.items() if v and not math.isnan(v)},
                       "end_to_end": {k: round(gflops * v, 1) for k, v in ips.items() if v and not math.isnan(v)}}
    errors = {f"{k}-t{t}": r["error"] for k, by in results.items() for t, r in by.items() if "error" in r}
    if errors:
        out["errors"] = errors
    return out


def model_only_section(results: dict[str, dict[int, dict]]) -> dict:
    ov = results.get("openvino", {})
    best = {"fp32": _model_best(results.get("fp32", {})), "int8": _model_best(results.get("int8", {})),
            "openvino": _openvino_best(ov)}
    int8_b1 = _model_best(results.get("int8", {}), batch="1")
    sec: dict = {
        "model_only_ms": {k: {str(t): r.get("model_only") for t, r in results.get(k, {}).items()}
                          for k in ("fp32", "int8", "openvino")},
        "model_only_best_ms_per_image": {k: round(v, 2) for k, v in best.items()},
        "model_only_ratio_int8_vs_fp32": _ratio(best["fp32"], best["int8"]),
        # OpenVINO is timed at batch 1, so ShelfWatch INT8 is taken at batch 1 too
        "model_only_ratio_int8_vs_openvino": _ratio(best["openvino"], int8_b1),
    }
    first = next(iter(ov.values()), {})
    if first and "error" not in first:
        sec["openvino"] = {k: first.get(k) for k in ("version", "capabilities", "default_precision", "bf16_available")}
        if not first.get("bf16_available"):
            sec["openvino"]["note"] = ("no BF16 on this CPU (no AVX512-BF16/AMX): OpenVINO's default precision is "
                                       f"{first.get('default_precision')}, so its FP32 and default runs are the same")
    ep = results.get("ort_openvino_ep")
    if ep:
        sec["ort_openvino_ep"] = {str(t): r for t, r in ep.items()}
        # ShelfWatch's engine as MODEL_TUNE runs it in an image with OpenVINO's EP, against OpenVINO's
        # own runtime, timed in turn in one process at each thread count; the worst of them counts
        ratios = {str(t): r["ratio_openvino_best_vs_engine_choice"] for t, r in ep.items()
                  if r.get("ratio_openvino_best_vs_engine_choice") is not None}
        if ratios:
            sec["model_only_ratio_engine_choice_vs_openvino"] = min(ratios.values())
            sec["model_only_ratio_engine_choice_vs_openvino_by_threads"] = ratios
    return sec


def accuracy_section(results: dict[str, dict[int, dict]]) -> dict:
    maps: dict = {}
    for k in ("fp32", "int8", "ultralytics", "ultralytics_int8"):
        for r in results.get(k, {}).values():
            if "map" in r:
                maps[k] = r["map"]
    for r in results.get("openvino", {}).values():
        for variant, m in r.get("map", {}).items():
            maps[f"openvino_{variant}"] = m
    for r in results.get("ort_openvino_ep", {}).values():  # each form of ORT with OpenVINO's EP
        for key, form in r.items():
            if isinstance(form, dict) and "map" in form:
                maps[f"ort_ep_{key}"] = form["map"]
    map50 = {k: m["map50"] for k, m in maps.items()}
    if "openvino_fp32_model_f32" in map50:
        map50["openvino"] = map50["openvino_fp32_model_f32"]
    drop = (map50["fp32"] - map50["int8"]) * 100 if {"fp32", "int8"} <= map50.keys() else math.nan
    return {"map50": map50, "map50_drop_int8_points": round(drop, 2), "accuracy": maps}


def model_gflops(model_path: Path, size: int) -> float | None:
    """GFLOPs per image (2 × multiply-adds of Conv and MatMul) from the ONNX graph at size×size."""
    try:
        import onnx
        from onnx import shape_inference
    except ImportError:
        return None
    import numpy as np

    m = onnx.load(str(model_path))
    dims = m.graph.input[0].type.tensor_type.shape.dim
    for d, v in zip(dims, (1, 3, size, size), strict=False):
        d.ClearField("dim_param")
        d.dim_value = v
    m = shape_inference.infer_shapes(m)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in (*m.graph.value_info, *m.graph.output, *m.graph.input)}
    shapes.update({i.name: list(i.dims) for i in m.graph.initializer})
    flops = 0.0
    for n in m.graph.node:
        out = shapes.get(n.output[0])
        if not out or 0 in out:
            continue
        if n.op_type == "Conv" and n.input[1] in shapes:
            flops += 2 * np.prod(out) * np.prod(shapes[n.input[1]][1:])
        elif n.op_type == "MatMul" and shapes.get(n.input[0]) and shapes[n.input[0]][-1]:
            flops += 2 * np.prod(out) * shapes[n.input[0]][-1]
    return round(float(flops) / 1e9, 3)
