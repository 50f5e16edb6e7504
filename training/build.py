"""The whole model pipeline, one command: data → train → ONNX → INT8 → evaluate → gate → card.

    python -m training.build --config training/configs/v1.yaml [--out models/]

Each step reuses what an earlier, interrupted run left in the workdir (dataset photos,
``last.pt``), so running it again resumes. The gate fails the build (exit 1) when INT8
loses more than ``gate.max_int8_map50_drop`` mAP50 against FP32 or stays below
``gate.min_int8_map50``; models are copied to ``--out`` only when the gate passes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx

from shared import accuracy as evaluate
from shared.detector import Detector, sha256_file
from training import label_real, offline, quantize, realcheck, train


def export_onnx(best_pt: Path, out: Path, imgsz: int, workdir: Path) -> Path:
    offline.configure(workdir)
    from ultralytics import YOLO

    exported = Path(YOLO(str(best_pt)).export(format="onnx", imgsz=imgsz, dynamic=True, simplify=True,
                                              opset=17, device="cpu"))
    model = onnx.load(str(exported))
    model.ir_version = min(model.ir_version, 10)  # onnxruntime 1.31 rejects IR 14 (onnx 1.23's default)
    model.metadata_props.clear()
    onnx.save(model, str(out))
    return out


def write_card(model_path: Path, card: dict) -> dict:
    card = {**card, "file": model_path.name, "sha256": sha256_file(model_path),
            "size_bytes": model_path.stat().st_size}
    model_path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def latency_ms(model_path: Path, size: int, runs: int = 20) -> float:
    """Median model-only latency, batch 1, one thread (the benchmarks measure more)."""
    det = Detector(model_path, threads=1, verify=False)
    x = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
    for _ in range(3):
        det.predict(x)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        det.predict(x)
        times.append((time.perf_counter() - t) * 1e3)
    return round(statistics.median(times), 1)


def calibration_photos(folders: list[list[Path]], n: int) -> list[Path]:
    """Up to ``n`` training photos spread evenly over every training folder (synthetic and real),
    so the INT8 scales cover the activations of real photos too, not only synthetic ones."""
    share = [n // len(folders) + (i < n % len(folders)) for i in range(len(folders))]
    return [p for photos, k in zip(folders, share, strict=True) if k for p in photos[:: max(1, len(photos) // k)][:k]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--workdir", type=Path, default=Path("build/train"))
    ap.add_argument("--out", type=Path, default=None, help="copy the gated models and cards here")
    ap.add_argument("--skip-train", action="store_true", help="use the run's existing best.pt")
    ap.add_argument("--weights", type=Path, default=None,
                    help="export these weights instead of training: a new version that only changes "
                         "post-processing (its checkpoint is not copied, the weights' own stays the one to fine-tune)")
    ap.add_argument("--data", type=Path, default=None,
                    help="train on a real dataset instead: a YOLO data.yaml or its folder (`shelfwatch labels "
                         "export`'s output), or SKU-110K's annotations CSV (images from --images)")
    ap.add_argument("--images", type=Path, default=None, help="SKU-110K images folder (with --data X.csv)")
    args = ap.parse_args()
    cfg = train.load_config(args.config)
    if args.data:
        if args.data.is_dir():  # a folder holding data.yaml: `shelfwatch labels export`'s output
            args.data = args.data / "data.yaml"
        if args.data.suffix == ".csv":
            images = args.images or args.data.parent / "images"
            cfg["data"] = {"sku110k": {"csv": str(args.data), "images": str(images)}}
        else:
            cfg["data"] = {"yolo": str(args.data)}
        cfg["train"]["single_cls"] = True  # every class is a product to count
        source = args.data.parent.name if args.data.name == "data.yaml" else args.data.stem
        cfg["name"] = f"{cfg['name']}-{source}"
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    data_yaml = train.prepare_data(cfg, workdir)
    if args.weights:  # a copy: Ultralytics writes its export beside the weights it is given
        best = workdir / cfg["name"] / "weights" / args.weights.name
        best.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(args.weights, best)
    elif args.skip_train:
        best = workdir / cfg["name"] / "weights" / "best.pt"
    else:
        best = train.train(cfg, workdir, data_yaml)
    size = cfg["export"]["imgsz"]
    stage = workdir / cfg["name"] / "export"
    stage.mkdir(parents=True, exist_ok=True)
    fp32 = export_onnx(best, stage / f"{cfg['name']}-fp32.onnx", size, workdir)
    int8 = stage / f"{cfg['name']}-int8.onnx"

    val_imgs, labels = train.split(data_yaml, "val")
    calib = calibration_photos(train.all_images(data_yaml, "train"), cfg["quantize"]["calibration_photos"])

    post = cfg.get("postprocess", {})
    base = {"classes": ["product"], "input_size": size, "iou_threshold": 0.6, "conf_threshold": 0.25,
            "max_det": cfg["train"].get("max_det", 300),
            "contain_threshold": post.get("contain_threshold"), "keep_layers": bool(post.get("keep_layers", False)),
            "zoom_out": post.get("zoom_out")}
    write_card(fp32, {**base, "version": f"{cfg['name']}-fp32"})  # provisional: the detector needs one
    qinfo = quantize.quantize(fp32, int8, calib, size)
    write_card(int8, {**base, "version": f"{cfg['name']}-int8"})

    pred = {p.name: evaluate.predict_set(p, val_imgs, labels) for p in (fp32, int8)}
    synthetic_best = evaluate.best_threshold(pred[int8.name])  # the served model's own best threshold
    threshold, choice = synthetic_best, "confidence with the lowest mean count error on the synthetic val set (INT8)"
    real = cfg.get("threshold", {}).get("real_density")
    photos = realcheck.real_photos(Path(real["photos"]), Path(real["list"]) if real.get("list") else None) \
        if real and Path(real["photos"]).is_dir() else []
    if real and not photos:
        print(f"warning: no real photos at {real['photos']}: the threshold comes from synthetic val alone")
    if photos:  # real photos without product boxes: match their known density instead
        threshold, medians = realcheck.threshold_for_density(int8, photos, real["products_per_photo"])
        choice = (f"prior matching: median count on {len(photos)} unlabelled real training photos nearest "
                  f"{real['products_per_photo']} products per photo (synthetic val's best was {synthetic_best})")
        print(f"threshold {threshold} (real median counts by threshold: {medians})")
    conf_thresholds = None
    labelled_rule = cfg.get("threshold", {}).get("real_labels")
    taught = (cfg["data"].get("real") or {}).get("names")
    if labelled_rule is not None and cfg["data"].get("real") and taught is None:
        print("warning: the config does not pin its real photos (data.real.names): which labelled photos are held "
              f"out is unknown; the threshold stays {threshold}")
    elif labelled_rule is not None:  # labelled real photos it was not taught on: choose by them, per input size
        sizes = [size, *[z for z in labelled_rule.get("sizes", []) if z != size]]
        try:
            cal = label_real.calibrate(int8, sizes, min_photos=labelled_rule.get("min_photos", 5),
                                       taught=set(taught or []))
        except SystemExit as exc:
            print(f"warning: {exc}; the threshold stays {threshold}")
        else:
            choice = (f"per input size, the lowest threshold within one standard error of the lowest mean per-photo "
                      f"count error on the {cal[size]['photos']} calibration photos not taught, unjudged parts left "
                      f"out (before it: {threshold} by {choice})")
            threshold = cal[size]["threshold"]
            conf_thresholds = {str(z): r["threshold"] for z, r in cal.items()}
    m = {name: evaluate.metrics(pr, threshold) for name, pr in pred.items()}
    m_fp32, m_int8 = m[fp32.name], m[int8.name]
    m_synth_best = evaluate.metrics(pred[int8.name], synthetic_best)
    print(json.dumps({"fp32": m_fp32, "int8": m_int8, "int8_at_synthetic_best": m_synth_best}, indent=2))

    gate = cfg["gate"]
    drop = m_fp32["map50"] - m_int8["map50"]
    passed = drop <= gate["max_int8_map50_drop"] and m_int8["map50"] >= gate["min_int8_map50"]
    common = {
        **base, "conf_threshold": threshold, **({"conf_thresholds": conf_thresholds} if conf_thresholds else {}),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "architecture": cfg["model"],
        "trained_from": (f"not trained: the weights of {args.weights}" if args.weights
                         else f"fine-tuned from {cfg['model']}" if str(cfg["model"]).endswith(".pt")
                         else "scratch (no pretrained weights)"),
        "data": {**cfg["data"], "generator": "training/synth.py", "val_photos": len(val_imgs)},
        "training": cfg["train"], "config_file": str(args.config),
        "metrics": {"synthetic_val": {"fp32": m_fp32, "int8": m_int8, "int8_at_synthetic_best": m_synth_best}},
        "threshold_choice": choice,
    }
    cards = {
        fp32: write_card(fp32, {**common, "version": f"{cfg['name']}-fp32", "precision": "fp32",
                                "latency_ms_1thread": latency_ms(fp32, size)}),
        int8: write_card(int8, {**common, "version": f"{cfg['name']}-int8", "precision": "int8",
                                "quantization": qinfo, "latency_ms_1thread": latency_ms(int8, size)}),
    }
    print(f"gate: INT8 mAP50 {m_int8['map50']} vs FP32 {m_fp32['map50']} (drop {drop:.4f}, allowed "
          f"{gate['max_int8_map50_drop']}; minimum {gate['min_int8_map50']}): {'PASS' if passed else 'FAIL'}")
    if not passed:
        return 1
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for path in cards:
            shutil.copy(path, args.out / path.name)
            shutil.copy(path.with_suffix(".json"), args.out / path.with_suffix(".json").name)
        if not args.weights:  # the weights a later config fine-tunes from (optimizer state stripped by Ultralytics)
            (args.out / "checkpoints").mkdir(exist_ok=True)
            shutil.copy(best, args.out / "checkpoints" / f"{cfg['name']}.pt")
        print(f"models, cards and checkpoint copied to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
