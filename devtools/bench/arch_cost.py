"""What a larger network would cost a photo, before any time is spent training it.

    python -m devtools.bench.arch_cost yolo11s.yaml --photos ../shared/data/sku110k-shelf \\
        --baseline models/shelfwatch-v22-int8.onnx@1024 --sizes 512 640 800

Builds the architecture untrained (one class, ``product``), exports and quantizes it exactly as
``training.build`` does (ONNX with dynamic shape, INT8 calibrated on real photos), gives it a card
and times it with ``devtools.bench.model_cost`` beside the baseline: at which input size it costs
what the served model costs. Only the time is meaningful: untrained, it finds no box, so its
figures are the network alone, without the NMS of a real model's boxes (a few ms at most).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from devtools.bench import model_cost


def build_untrained(arch: str, out_dir: Path, calibration: list[Path], size: int = 800) -> Path:
    """``arch`` (an Ultralytics model yaml) untrained → INT8 ONNX with a card, in ``out_dir``."""
    from training import offline

    offline.configure(out_dir)
    import torch
    from ultralytics.nn.tasks import DetectionModel

    from training.build import export_onnx, write_card
    from training.quantize import quantize

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(arch).stem
    model = DetectionModel(arch, nc=1, verbose=False)
    pt = out_dir / f"{stem}-untrained.pt"
    torch.save({"model": model.half(), "train_args": {}, "date": None, "version": None}, pt)
    fp32 = export_onnx(pt, out_dir / f"{stem}-untrained-fp32.onnx", size, out_dir)
    int8 = out_dir / f"{stem}-untrained-int8.onnx"
    quantize(fp32, int8, calibration, size)
    params = sum(p.numel() for p in model.parameters())
    write_card(int8, {"version": f"{stem}-untrained-int8", "architecture": arch, "parameters": params,
                      "classes": ["product"], "input_size": size, "conf_threshold": 0.3, "iou_threshold": 0.6,
                      "max_det": 600, "precision": "int8", "trained_from": "untrained: timing only"})
    return int8


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m devtools.bench.arch_cost", description=(__doc__ or "").splitlines()[0])
    p.add_argument("arch", help="an Ultralytics model yaml, e.g. yolo11s.yaml")
    p.add_argument("--photos", type=Path, required=True, help="a folder of shelf photos (or its images/)")
    p.add_argument("--baseline", action="append", default=[], help="MODEL.onnx[@SIZE] timed beside it (repeat)")
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 640, 800])
    p.add_argument("--limit", type=int, default=16, help="photos timed, the first by name")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--work", type=Path, default=Path("build/bench/arch"))
    args = p.parse_args(argv)
    folder = args.photos / "images" if (args.photos / "images").is_dir() else args.photos
    jpgs = sorted(folder.glob("*.jpg"))
    if not jpgs:
        raise SystemExit(f"no photos in {folder}")
    int8 = build_untrained(args.arch, args.work, jpgs[::8][:24])
    models = [model_cost.parse(s) for s in args.baseline] + [(int8, size) for size in args.sizes]
    out = model_cost.run(models, [f.read_bytes() for f in jpgs[: args.limit]], args.rounds)
    card = json.loads(int8.with_suffix(".json").read_text())
    print(f"{args.arch}: {card['parameters'] / 1e6:.1f} M parameters (untrained: the time is the network's alone)")
    print(model_cost.table(out))
    (args.work / "arch_cost.json").write_text(json.dumps({"arch": args.arch, "models": out}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
