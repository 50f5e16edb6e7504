"""`shelfwatch-dev bench [--quick] [--json PATH]`: engine, farm and gateway benchmarks in one run.

    python -m devtools.bench.main [--quick] [--real-photos DIR] [--json PATH]

1. Engine (``devtools.bench.engine``): Ultralytics' ``YOLO(model.onnx).predict`` loop, ShelfWatch
   FP32 and ShelfWatch INT8 on the same photos from JPEG bytes, same threads and cores;
   model-only times against OpenVINO; mAP50 of each on a fixed synthetic val set.
2. Farm (``devtools.bench.farm``): HTTP submit → S3 → Redis → worker batch → Postgres on real local
   services; idle and saturated latency, sustained photos/s and its ratio to the raw
   engine on the same core; gateway submit latency at 32 concurrent clients.

Everything is reported as ratios measured side by side in one run (absolute numbers on a
shared machine move). Results: printed, written as JSON, and plotted (PNG beside it).

The engine runs on real shelf photos given by ``--real-photos`` (default: ``images/`` of
the ``REAL_DATA_DIR`` setting); without them it says so and uses synthetic photos.
Relative paths are relative to the working directory (the repository root under make).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

from shared.settings import Settings

SYNTH_SEED, SYNTH_SIZE, SYNTH_VAL = 11, 640, 20

# (figure, how to read it from the report, target, higher is better)
TARGETS = [
    ("photos/s INT8 ÷ Ultralytics (real photos, e2e)", ("engine", "ratios", "int8_vs_ultralytics"), 3.0, True),
    ("model-only INT8 ÷ FP32 speed", ("engine", "model_only_ratio_int8_vs_fp32"), 1.5, True),
    ("mAP50 loss INT8 vs FP32 (points)", ("engine", "map50_drop_int8_points"), 1.0, False),
    ("model-only OpenVINO best ms ÷ INT8 ms", ("engine", "model_only_ratio_int8_vs_openvino"), 1.0, True),
    # the engine as MODEL_TUNE runs it where the image has OpenVINO's EP (--ort-openvino-python), worst thread count
    ("model-only OpenVINO best ÷ tuned engine, in turn", ("engine", "model_only_ratio_engine_choice_vs_openvino"),
     1.0, True),
    ("farm photos/s ÷ engine (same core)", ("farm", "efficiency"), 0.85, True),
    ("idle farm end-to-end p95 (ms)", ("farm", "latency_ms", "p95"), 300.0, False),
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="a ~2-minute subset (what `make test` runs)")
    p.add_argument("--json", type=Path, default=Path("build/bench/bench.json"),
                   help="where to write the results; the plot goes beside it (.png)")
    p.add_argument("--int8", type=Path, default=None,
                   help="INT8 model (default: the one the registry in MODELS_DIR serves in accurate mode)")
    p.add_argument("--fp32", type=Path, default=None, help="its FP32 original (default: the -fp32 file beside it)")
    p.add_argument("--real-photos", type=Path, default=None,
                   help="folder of real shelf JPEGs, read in place, never copied (default: images/ of the "
                        "REAL_DATA_DIR setting; without either the engine uses synthetic photos)")
    p.add_argument("--workdir", type=Path, default=Path("build/bench"))
    p.add_argument("--skip-engine", action="store_true")
    p.add_argument("--skip-farm", action="store_true")
    p.add_argument("--profile", action="store_true", help="also profile the worker with py-spy (farm)")
    p.add_argument("--ort-openvino-python", default=Settings().ort_openvino_python,
                   help="python of a separate venv with onnxruntime-openvino (it replaces onnxruntime "
                        "if installed beside it); empty: that execution provider is skipped")


# --- inputs ----------------------------------------------------------------------------

def synthetic_val(workdir: Path, n: int) -> tuple[list[Path], Path]:
    """The fixed synthetic val set (seed 11, 640 px), generated once into the workdir."""
    from training import synth

    root = workdir / synth.dataset_name(SYNTH_SEED, SYNTH_SIZE)
    synth.generate(root, 0, SYNTH_VAL, seed=SYNTH_SEED, size=SYNTH_SIZE)
    return sorted((root / "images" / "val").glob("*.jpg"))[:n], root / "labels" / "val"


def default_real_photos() -> Path | None:
    """``images/`` of the ``REAL_DATA_DIR`` setting, or None where it is not set."""
    real = Settings().real_data_dir
    return real / "images" if real else None


def real_photos(folder: Path | None, n: int) -> list[Path]:
    """``n`` photos spread evenly over the folder (sizes and shelves vary through it)."""
    found = sorted(folder.glob("*.jpg")) if folder and folder.is_dir() else []
    if not found:
        return []
    step = max(1, len(found) // n)
    return found[::step][:n]


def cores() -> tuple[dict[int, list[int]], list[int], list[int]]:
    """Thread count → cores to pin to; the worker's core; the others (gateway, services, load)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return {}, [], []
    return {1: [cpus[-1]], 2: cpus[-2:]}, [cpus[-1]], cpus[:-1]


def machine() -> dict:
    flags: set[str] = set()
    name = platform.processor()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            name = line.split(":", 1)[1].strip()
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
    isa = {f: f in flags for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile")}
    return {"cpu": name, "cores": os.cpu_count(), "isa": isa, "python": platform.python_version()}


def versions() -> dict:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for pkg in ("onnxruntime", "openvino", "ultralytics", "torch", "opencv-python-headless", "celery"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


# --- plan per mode ----------------------------------------------------------------------

def engine_config(args, photos, val, labels, core_map):
    from devtools.bench.engine import EngineConfig

    q = args.quick
    return EngineConfig(int8=args.int8, fp32=args.fp32, workdir=args.workdir, photos=photos, map_images=val,
                        map_labels=labels, threads=[1] if q else [1, 2], batches=[1, 8] if q else [1, 4, 8, 16],
                        model_batches=[1] if q else [1, 4, 8, 16], model_images=10 if q else 32,
                        big=1 if q else 3, cores=core_map, ort_openvino_python=args.ort_openvino_python,
                        ultralytics_int8=not q, rounds=2 if q else 5)


def farm_config(args, photos, worker_cores, other_cores):
    from devtools.bench.farm import FarmConfig

    q = args.quick
    return FarmConfig(model=args.int8, workdir=args.workdir, photos=photos, worker_cores=worker_cores,
                      other_cores=other_cores, idle_n=8 if q else 20, saturate_n=24 if q else 64,
                      offered_n=16 if q else 40, gateway_per_client=2 if q else 4,
                      sweep=[] if q else [(1, 10), (4, 50), (16, 200), (8, 20)], scaling=not q,
                      pacing_rounds=0 if q else 2, profile=args.profile)


# --- run ---------------------------------------------------------------------------------

def served_models(int8: Path | None, fp32: Path | None) -> tuple[Path, Path]:
    """The INT8 model in service (accurate mode) and the FP32 file it was quantized from."""
    from shared import registry

    int8 = int8 or registry.resolve(Settings().models_dir, None)["accurate"].model
    return int8, fp32 or int8.with_name(int8.name.replace("-int8", "-fp32"))


def run(args: argparse.Namespace) -> int:
    args.int8, args.fp32 = served_models(args.int8, args.fp32)
    for m in (args.int8, args.fp32):
        if not m.exists() or not m.with_suffix(".json").exists():
            print(f"bench: {m} or its card {m.with_suffix('.json').name} is missing (see --int8/--fp32)")
            return 2
    args.workdir.mkdir(parents=True, exist_ok=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill` cleans up like Ctrl-C
    t0 = time.perf_counter()
    try:
        report = collect(args)
    finally:
        signal.signal(signal.SIGTERM, previous)
    report["meta"]["seconds"] = round(time.perf_counter() - t0, 1)
    report["targets"] = check_targets(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(_no_nan(report), indent=2, default=str) + "\n")
    print(table(report))
    try:
        from devtools.bench.plot import plot

        png = plot(report, args.json.with_suffix(".png"))
        print(f"\nwritten: {args.json} and {png}")
    except ImportError:
        print(f"\nwritten: {args.json} (no matplotlib: no plot)")
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _no_nan(o):
    """NaN (a figure that could not be measured) as JSON null: NaN is not valid JSON."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _no_nan(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_no_nan(v) for v in o]
    return o


def collect(args: argparse.Namespace) -> dict:
    from shared.detector import ModelCard

    n_real = 8 if args.quick else 32
    n_val = 10 if args.quick else SYNTH_VAL
    val, labels = synthetic_val(args.workdir, n_val)
    folder = args.real_photos or default_real_photos()
    photos = real_photos(folder, n_real)
    notes = []
    if not photos:
        where = folder or "neither --real-photos nor REAL_DATA_DIR given"
        notes.append(f"no real photos ({where}): the engine bench used synthetic photos instead")
        print(f"note: {notes[-1]}")
        photos = val[:n_real]
    core_map, worker_cores, other_cores = cores()
    if not core_map:
        notes.append("fewer than 2 cores: nothing pinned, the farm shares its core with everything")
    report: dict = {"meta": {
        "mode": "quick" if args.quick else "full", "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(), "versions": versions(), "load_average_at_start": os.getloadavg(),
        "models": {k: {"path": str(p), "version": ModelCard.load(p).version, "input_size": ModelCard.load(p).input_size}
                   for k, p in (("int8", args.int8), ("fp32", args.fp32))},
        "photos": {"engine": len(photos), "source": str(photos[0].parent), "synthetic_val": len(val),
                   "real_photos_used": photos[0].parent != val[0].parent},
        "notes": notes}}
    if not args.skip_engine:
        from devtools.bench.engine import run_engine

        report["engine"] = run_engine(engine_config(args, photos, val, labels, core_map))
    if not args.skip_farm:
        from devtools.bench.farm import run_farm

        report["farm"], report["gateway"] = run_farm(farm_config(args, photos, worker_cores, other_cores))
        if "postgres" in report["farm"].get("cpu_ms_per_photo", {}):
            notes.append("Postgres is the machine's own server (not pinned); its CPU counts every database")
    return report


def _get(report: dict, path: tuple) -> float | None:
    cur = report
    for k in path:
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    return cur if isinstance(cur, int | float) else None


def check_targets(report: dict) -> list[dict]:
    out = []
    for name, path, target, higher in TARGETS:
        v = _get(report, path)
        met = None if v is None or math.isnan(v) else (v >= target if higher else v <= target)
        out.append({"target": name, "value": v, "goal": f"{'≥' if higher else '≤'} {target:g}", "met": met})
    return out


# --- the printed table ----------------------------------------------------------------

def _f(v, nd: int = 2) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{nd}f}"


def table(r: dict) -> str:
    lines = [f"\nShelfWatch benchmark ({r['meta']['mode']}, {r['meta']['machine']['cpu']}, "
             f"{r['meta']['seconds']} s)"]
    if "engine" in r:
        lines += engine_table(r["engine"], r["meta"])
    if "farm" in r:
        lines += farm_table(r["farm"], r["gateway"])
    lines.append("\nTargets")
    for t in r["targets"]:
        mark = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
        lines.append(f"  {t['target']:<50} {_f(t['value']):>9}  {t['goal']:<8} {mark}")
    lines += [f"note: {n}" for n in r["meta"]["notes"]]
    return "\n".join(lines)


def engine_table(e: dict, meta: dict) -> list[str]:
    lines = [f"\nEngine: {meta['photos']['engine']} photos from {meta['photos']['source']} (JPEG bytes → detections)",
             f"  {'engine':<18}{'threads':>8}{'batch':>7}{'images/s':>10}{'ms/image':>10}{'batch p95 ms':>14}"]
    for label, by_t in e["e2e"].items():
        for t, by_b in (by_t or {}).items():
            for b, m in (by_b or {}).items():
                lines.append(f"  {label:<18}{t:>8}{b:>7}{_f(m['images_per_s']):>10}{_f(m['per_image_ms'], 1):>10}"
                             f"{_f(m['batch_ms']['p95'], 1):>14}")
    sq = e["sequential"]["ratios"]
    lines.append(f"  (engines timed one after the other: INT8/Ultralytics {_f(sq['int8_vs_ultralytics'])}×, "
                 f"FP32/Ultralytics {_f(sq['fp32_vs_ultralytics'])}×, INT8/FP32 {_f(sq['int8_vs_fp32'])}×)")
    lines.append("  side by side (one process, engines taking turns, batch 1, median of per-round ratios):")
    for t, rt in e.get("side_by_side", {}).items():
        ips = rt["images_per_s"]
        lines.append(f"    {t} thread(s): Ultralytics {_f(ips['ultralytics'])}, FP32 {_f(ips['fp32'])}, "
                     f"INT8 {_f(ips['int8'])} images/s → INT8/Ultralytics {_f(rt['ratios']['int8_vs_ultralytics'])}×, "
                     f"FP32/Ultralytics {_f(rt['ratios']['fp32_vs_ultralytics'])}×, "
                     f"INT8/FP32 {_f(rt['ratios']['int8_vs_fp32'])}×")
    ra = e["ratios"]
    lines.append(f"  ratios at each one's best thread count: INT8/Ultralytics {_f(ra['int8_vs_ultralytics'])}×, "
                 f"FP32/Ultralytics {_f(ra['fp32_vs_ultralytics'])}×, INT8/FP32 {_f(ra['int8_vs_fp32'])}×")
    for t, m in e.get("model_only_side_by_side", {}).items():
        lines.append(f"  model only side by side, {t} thread(s), batch 1, {m['input_shape']}: "
                     + ", ".join(f"{k} {_f(v, 1)} ms" for k, v in m["ms"].items())
                     + f" → INT8/FP32 {_f(m['ratio_int8_vs_fp32'])}×, OpenVINO/INT8 {_f(m['ratio_int8_vs_openvino'])}")
    mo = e["model_only_best_ms_per_image"]
    lines.append(f"  model only, best ms/image: FP32 {_f(mo['fp32'], 1)}, INT8 {_f(mo['int8'], 1)}, "
                 f"OpenVINO {_f(mo['openvino'], 1)} → INT8 {_f(e['model_only_ratio_int8_vs_fp32'])}× FP32, "
                 f"OpenVINO/INT8 {_f(e['model_only_ratio_int8_vs_openvino'])}")
    for t, ep in (e.get("ort_openvino_ep") or {}).items():
        lines.append(f"  ORT with OpenVINO's EP ({t} thread), each form in turn: " + ", ".join(
            f"{k} {_f(v.get('median'), 1)} ms"
            + (f" (boxes agree with the CPU provider's at F1 {_f(v['agreement_f1'], 3)})"
               if "agreement_f1" in v else "")
            + (f" mAP50 {_f(v['map']['map50'], 3)}" if "map" in v else "")
            for k, v in ep.items() if isinstance(v, dict) and "median" in v))
        if ep.get("tune"):
            lines.append(f"    MODEL_TUNE's choice there: {ep['tune']['choice']} (ms {ep['tune']['ms']}; "
                         f"refused: {', '.join(ep['tune']['rejected']) or 'none'})")
    lines.append("  mAP50 (synthetic val): " + ", ".join(f"{k} {_f(v, 3)}" for k, v in e["map50"].items()))
    if e.get("gflops_per_image"):
        lines.append(f"  model: {e['gflops_per_image']} GFLOPs/image; achieved GOPS model-only "
                     f"{e.get('gops', {}).get('model_only')}, end to end {e.get('gops', {}).get('end_to_end')}")
    for k, st in e.get("stages_ms", {}).items():
        lines.append(f"  stages ms ({k}, 1 thread, batch 1): " + ", ".join(f"{s} {_f(v, 1)}" for s, v in st.items()))
    if e.get("photo_12mp_ms_per_photo"):
        lines.append("  12 MP photo, ms each: " + ", ".join(
            f"{k} {_f(v, 0)}" for k, v in e["photo_12mp_ms_per_photo"].items()))
    for k, err in e.get("errors", {}).items():
        lines.append(f"  ERROR {k}: {err.splitlines()[-1] if err else ''}")
    return lines


def farm_table(f: dict, g: dict) -> list[str]:
    lat, sat = f["latency_ms"], f["saturated_latency_ms"]
    lines = [f"\nFarm: worker on core(s) {f['cores']['worker']}, everything else on {f['cores']['everything_else']}; "
             f"BATCH_SIZE {f['batch_size']}, BATCH_WAIT_MS {f['batch_wait_ms']}",
             f"  idle, one photo at a time: p50 {lat['p50']} ms, p95 {lat['p95']} ms, p99 {lat['p99']} ms "
             f"\n    median phases {f.get('idle_phase_ms')}; worker stages {f.get('idle_worker_stage_ms')}",
             f"  saturated: {f['photos_per_s']} photos/s vs engine {f['engine_photos_per_s']} on the same core → "
             f"efficiency {f['efficiency']}; latency p50 {sat['p50']}, p95 {sat['p95']}, p99 {sat['p99']} ms",
             f"  offered {f['offered']['rate']}/s: latency {f['offered']['latency_ms']}",
             f"  CPU ms per photo: {f['cpu_ms_per_photo']} (moto's share of the farm's CPU "
             f"{f['s3_moto_share_of_farm_cpu']})"]
    for row in f.get("batch_sweep", []):
        lines.append(f"  sweep BATCH_SIZE {row['batch_size']:>2}, BATCH_WAIT_MS {row['batch_wait_ms']:>3}: "
                     f"{row['photos_per_s']} photos/s (mean batch {row['batch_size_mean']}), saturated p95 "
                     f"{row['latency_ms'].get('p95')} ms, idle p50 {row['idle_latency_ms_p50']} ms")
    if f.get("scaling"):
        lines.append(f"  scaling: {f['scaling']}")
    if (f.get("worker_profile") or {}).get("stage_share"):
        lines.append(f"  worker CPU by stage (py-spy): {f['worker_profile']['stage_share']}")
    lines.append(f"Gateway: {g['clients']} concurrent clients, {g['requests']} submits: "
                 f"p50 {g['submit_ms']['p50']} ms, p99 {g['submit_ms']['p99']} ms, "
                 f"{g['requests_per_s']} req/s, {g['errors']} errors; CPU ms per photo {g.get('cpu_ms_per_photo')}")
    if g.get("direct"):
        d = g["direct"]
        lines.append(f"  direct uploads (begin, PUT to S3, confirm; timed whole): p50 {d['submit_ms']['p50']} ms, "
                     f"p99 {d['submit_ms']['p99']} ms, {d['requests_per_s']} photos/s, {d['errors']} errors; "
                     f"CPU ms per photo {d['cpu_ms_per_photo']} (the photo's bytes go to the S3-API server only)")
    if (g.get("profile") or {}).get("stage_share"):
        lines.append(f"  gateway CPU by stage (py-spy): {g['profile']['stage_share']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """``python -m devtools.bench.main``: the same as ``shelfwatch-dev bench``."""
    p = argparse.ArgumentParser(prog="python -m devtools.bench.main", description=(__doc__ or "").splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
