"""Train a YOLO detector from scratch with Ultralytics, offline and resumable.

    python -m training.train --config training/configs/v1.yaml --workdir build/train

The run directory is ``<workdir>/<name>``; if it holds ``weights/last.pt`` from an
interrupted run, training resumes from it (a resumed run repeats nothing; a restarted
one would repeat the warm-up). Metrics per epoch land in Ultralytics' ``results.csv``
and, when MLflow is installed, in a local MLflow file store under the workdir.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

import yaml

from training import datasets, offline, pseudolabel, realcheck, realfaces, realset, synth


def load_config(path: Path) -> dict:
    return yaml.safe_load(Path(path).read_text())


def prepare_data(cfg: dict, workdir: Path) -> Path:
    """Build (or reuse) the dataset the config names; returns its data.yaml."""
    data = cfg["data"]
    if "yolo" in data:  # an existing YOLO-format dataset: its data.yaml
        return Path(data["yolo"])
    if "sku110k" in data:  # SKU-110K CSV annotations + its images folder
        d = data["sku110k"]
        return datasets.import_sku110k(Path(d["csv"]), Path(d["images"]), workdir / "sku110k")
    sets = data["synthetic"] if isinstance(data["synthetic"], list) else [data["synthetic"]]
    made = [_synthetic(s, workdir) for s in sets]  # the first set's val split is the val set
    trains = [str((y.parent / "images" / "train").resolve()) for y in made]
    if "pseudo" in data:
        trains.append(str(_pseudo(data["pseudo"], workdir).resolve()))
    if "real" in data:
        trains.append(str(_real(data["real"], workdir).resolve()))
    if len(trains) == 1:
        return made[0]
    mixed = workdir / f"{cfg['name']}-data.yaml"
    mixed.write_text(f"path: {made[0].parent.resolve()}\ntrain:\n" + "".join(f"  - {t}\n" for t in trains)
                     + "val: images/val\nnames:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(synth.CLASS_NAMES)))
    return mixed


def _derived_name(kind: str, model: str, conf: float, ignore_below: float | None = None,
                  no_stacks: bool = False) -> str:
    """The cache folder of data a model derives from real photos, named by everything that
    shapes it, so a config that changes the confidence never reuses another's folder."""
    return (f"{kind}-{Path(model).stem}-conf{conf}" + (f"-ignore{ignore_below}" if ignore_below else "")
            + ("-nostacks" if no_stacks else ""))


def _synthetic(s: dict, workdir: Path) -> Path:
    style = s.get("style", 1)
    out = workdir / synth.dataset_name(s["seed"], s["size"], style)
    faces = None
    if "faces" in s:  # real product faces, cut from real photos by a trained model
        f = s["faces"]
        photos = realcheck.real_photos(Path(f["photos"]), Path(f["list"]) if f.get("list") else None)
        if not photos:
            raise FileNotFoundError(f"{f['photos']}: no real photos to cut product faces from")
        drop = f.get("drop_stacks", False)  # leave out crops that are stacks (training/stacks.py)
        name = _derived_name("faces", f["model"], f.get("conf", 0.5), no_stacks=drop)
        faces = realfaces.load_bank(realfaces.build_bank(Path(f["model"]), photos, workdir / name,
                                                         conf=f.get("conf", 0.5), drop_stacks=drop))
        out = out.with_name(f"{out.name}-{name}")
    return synth.generate(out, s["n_train"], s["n_val"], seed=s["seed"], size=s["size"], style=style, faces=faces)


def _pseudo(p: dict, workdir: Path) -> Path:
    """Self-training: real photos labelled by an earlier model (see training/pseudolabel.py)."""
    photos_dir = Path(p["photos"])
    if not photos_dir.exists():
        raise FileNotFoundError(f"{photos_dir}: the real photos for self-training are not on this machine")
    photos = realcheck.real_photos(photos_dir, Path(p["list"]) if p.get("list") else None)
    ignore = p.get("ignore_below")
    stacks = p.get("mask_stacks", False)  # the teacher's stack boxes are masked, not taught
    folder = workdir / _derived_name("pseudo", p["model"], p.get("conf", 0.4), ignore, no_stacks=stacks)
    return pseudolabel.pseudo_label(Path(p["model"]), photos, folder, conf=p.get("conf", 0.4), ignore_below=ignore,
                                    mask_stacks=stacks)


def _real(r: dict, workdir: Path) -> Path:
    """The labelled real train photos, whole and tiled, ``repeat`` times (see training/realset.py)."""
    labels = Path(r.get("labels", "training/labels_real"))
    photos = realset.labelled_train(Path(r["photos"]), Path(r["list"]), labels)
    if "names" in r:  # a fixed subset (a comparison holds the photos still while it changes something else)
        missing = set(r["names"]) - {p.stem for p in photos}
        if missing:
            raise FileNotFoundError(f"not labelled train photos: {sorted(missing)}")
        photos = [p for p in photos if p.stem in set(r["names"])]
    if not photos:
        raise FileNotFoundError(f"{r['list']}: none of its photos has product boxes in {labels}")
    repeat, grid = int(r.get("repeat", 1)), int(r.get("grid", 2))
    return realset.build(photos, labels, workdir / f"real-{len(photos)}photos-r{repeat}-g{grid}",
                         repeat=repeat, grid=grid, overlap=float(r.get("overlap", 0.25)))


def split(data_yaml: Path, name: str) -> tuple[list[Path], Path]:
    """Images of one split of a YOLO dataset and the folder of their labels."""
    d = yaml.safe_load(Path(data_yaml).read_text())
    root = Path(d.get("path") or Path(data_yaml).parent)
    entry = d[name][0] if isinstance(d[name], list) else d[name]  # the first folder of a mixed split
    images = root / entry
    labels = Path(str(images).replace(f"{os.sep}images", f"{os.sep}labels", 1))
    photos = sorted(p for p in images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return photos, labels


def all_images(data_yaml: Path, name: str) -> list[list[Path]]:
    """Images of every folder of one split (a mixed split lists several), folder by folder."""
    d = yaml.safe_load(Path(data_yaml).read_text())
    root = Path(d.get("path") or Path(data_yaml).parent)
    entries = d[name] if isinstance(d[name], list) else [d[name]]
    return [sorted(p for p in (root / e).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
            for e in entries]


def train(cfg: dict, workdir: Path, data_yaml: Path) -> Path:
    """Train (or resume) and return the path of the best checkpoint."""
    offline.configure(workdir)
    # MLflow: a local SQLite store beside the run unless MLFLOW_TRACKING_URI names a server
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{workdir / 'mlflow.db'}")
    os.environ.setdefault("MLFLOW_EXPERIMENT_NAME", "shelfwatch")
    from ultralytics import YOLO, settings

    settings.update({"mlflow": _mlflow_available(), "sync": False, "clearml": False, "comet": False,
                     "dvc": False, "raytune": False, "wandb": False, "tensorboard": False,
                     "runs_dir": str(workdir), "weights_dir": str(workdir / "weights")})
    run_dir = workdir / cfg["name"]
    last = run_dir / "weights" / "last.pt"
    if last.exists():
        print(f"resuming from {last}")
        YOLO(str(last)).train(resume=True)
    else:
        t = dict(cfg["train"])
        # TRAIN_DEVICE=0 trains on the first CUDA GPU where one is lent (mixed precision there);
        # everything else, `make train` and the tests included, runs on the CPU alone
        device = os.environ.get("TRAIN_DEVICE", "cpu")
        YOLO(cfg["model"]).train(
            data=str(data_yaml),
            project=str(workdir),
            name=cfg["name"],
            exist_ok=True,
            device=device,
            workers=0 if device == "cpu" else 8,
            plots=False,
            amp=device != "cpu",
            # a .pt model is a checkpoint trained here (fine-tuning); a .yaml one starts from scratch
            pretrained=str(cfg["model"]).endswith(".pt"),
            verbose=False,
            **t,
        )
    best = run_dir / "weights" / "best.pt"
    return best if best.exists() else last


def _mlflow_available() -> bool:
    return importlib.util.find_spec("mlflow") is not None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--workdir", type=Path, default=Path("build/train"))
    args = ap.parse_args()
    cfg = load_config(args.config)
    args.workdir.mkdir(parents=True, exist_ok=True)
    data_yaml = prepare_data(cfg, args.workdir.resolve())
    print("best checkpoint:", train(cfg, args.workdir.resolve(), data_yaml))


if __name__ == "__main__":
    main()
