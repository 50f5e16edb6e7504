"""Which model serves which mode: ``models/registry.json``, changed only by promotion.

Two modes trade speed for accuracy: ``fast`` and ``accurate``. Each names a model file
in ``models/`` and the input size it runs at (the committed models have dynamic input
shapes, so one file can serve both at different sizes). A model's version as recorded
in results is its card's version, plus ``@<size>`` when it runs at another size than the
card's, so counts from different set-ups are never mixed up.

``MODEL_PATH``, when set, overrides the registry: every mode runs that file at its
card's size (tests and benchmarks pin a model this way).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MODES = ("fast", "accurate")
DEFAULT_MODE = "accurate"


@dataclass(frozen=True)
class ModeSpec:
    mode: str
    model: Path
    input_size: int | None  # None: the card's size


def registry_path(models_dir: Path) -> Path:
    return Path(models_dir) / "registry.json"


def load(models_dir: Path) -> dict:
    path = registry_path(models_dir)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: promote a model with `python -m training.promote`")
    return json.loads(path.read_text())


def resolve(models_dir: Path, model_path: Path | None) -> dict[str, ModeSpec]:
    """The model and input size each mode runs with."""
    if model_path:
        return {m: ModeSpec(m, Path(model_path), None) for m in MODES}
    reg = load(models_dir)
    return {m: ModeSpec(m, Path(models_dir) / reg["modes"][m]["model"], reg["modes"][m].get("input_size"))
            for m in MODES}


def save(models_dir: Path, registry: dict) -> None:
    registry_path(models_dir).write_text(json.dumps(registry, indent=2) + "\n")


def cards(models_dir: Path) -> list[tuple[Path, dict]]:
    """(model file, card) of every model card in ``models_dir``."""
    out = []
    for card in sorted(Path(models_dir).glob("*.json")):
        raw = json.loads(card.read_text())
        if "sha256" in raw and "version" in raw:
            out.append((card.with_suffix(".onnx"), raw))
    return out


def table(models_dir: Path) -> str:
    """``shelfwatch models list``: every model here, its headline figures, what it serves."""
    from shared.detector import sha256_file

    try:
        modes = load(models_dir)["modes"]
    except FileNotFoundError:
        modes = {}
    lines = [f"{'version':<26} {'prec':<5} {'size':>5} {'MB':>5} {'mAP50':>6} {'cnt err':>7} {'ms':>6}  "
             f"{'checksum':<8} serves"]
    for path, c in cards(models_dir):
        m = c.get("metrics", {}).get("synthetic_val", {}).get(c.get("precision", ""), {})
        serves = [f"{mode}@{spec.get('input_size') or c['input_size']}" for mode, spec in modes.items()
                  if spec["model"] == path.name]
        ok = "ok" if path.exists() and sha256_file(path) == c["sha256"] else "MISMATCH"
        lines.append(f"{c['version']:<26} {c.get('precision', '?'):<5} {c['input_size']:>5} "
                     f"{c.get('size_bytes', 0) / 1e6:>5.1f} {m.get('map50', float('nan')):>6.3f} "
                     f"{m.get('count_error', float('nan')):>7.3f} {c.get('latency_ms_1thread', float('nan')):>6.1f}  "
                     f"{ok:<8} {', '.join(serves)}")
    return "\n".join(lines)
