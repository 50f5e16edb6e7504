"""Bring model files that left the tree back from git history, SHA-256 checked.

    python -m devtools.restore shelfwatch-v6-int8 shelfwatch-v6   names from models/registry.json
    python -m devtools.restore --for-config training/configs/v11.yaml

``models/registry.json`` records every model version and checkpoint ever committed: its
file, SHA-256 and the commit that holds it. ``--for-config`` restores every ``models/``
file a training config names that is missing, which is what ``make train`` runs first.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path


def entries(models_dir: Path) -> dict[str, dict]:
    reg = json.loads((models_dir / "registry.json").read_text())
    return {**reg.get("checkpoints", {}), **reg.get("versions", {})}


def restore(name: str, models_dir: Path, known: dict[str, dict]) -> list[Path]:
    entry = known.get(name)
    if entry is None:
        raise SystemExit(f"{name}: not in {models_dir}/registry.json (versions or checkpoints)")
    files = [entry["file"]]
    if entry["file"].endswith(".onnx"):
        files.append(entry["file"].removesuffix(".onnx") + ".json")  # its model card
    written = []
    for f in files:
        data = subprocess.run(["git", "show", f"{entry['commit']}:models/{f}"],  # noqa: S603, S607 - git, fixed arguments
                              check=True, capture_output=True).stdout
        if f == entry["file"] and hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise SystemExit(f"{name}: models/{f} at {entry['commit'][:12]} does not match its SHA-256")
        out = models_dir / f
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        written.append(out)
    return written


def missing_for_config(config: Path, models_dir: Path, known: dict[str, dict]) -> list[str]:
    """Registry names of the models/ files a config names that are not on disk."""
    by_file = {e["file"]: name for name, e in known.items()}
    names = []
    text = "\n".join(line.split("#", 1)[0] for line in config.read_text().splitlines())  # not in comments
    for ref in sorted(set(re.findall(r"models/([\w./-]+\.(?:onnx|pt))", text))):
        if not (models_dir / ref).exists():
            if ref not in by_file:
                raise SystemExit(f"{config} names models/{ref}, which no commit recorded in registry.json holds")
            names.append(by_file[ref])
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m devtools.restore", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("names", nargs="*", help="model versions or checkpoints, as registry.json names them")
    ap.add_argument("--for-config", type=Path, default=None, help="restore what this training config needs")
    ap.add_argument("--models-dir", type=Path, default=Path("models"))
    args = ap.parse_args(argv)
    known = entries(args.models_dir)
    names = list(args.names)
    if args.for_config:
        names += missing_for_config(args.for_config, args.models_dir, known)
    if not names:
        print("nothing to restore")
    for name in names:
        for path in restore(name, args.models_dir, known):
            print(f"restored {path} ({name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
