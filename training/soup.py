"""`python -m training.soup A.pt B.pt --alpha 0.5 --out SOUP.pt`: a network whose weights lie
between two checkpoints of one lineage.

Every floating-point tensor (weights, biases, BatchNorm scales, shifts and running statistics)
becomes ``(1 - alpha) * A + alpha * B``; counters and other integer tensors are A's. Two
fine-tunes from a common checkpoint at a small learning rate stay in one basin of the loss, so
the points between them are networks too, and often better calibrated than either end
(Wortsman et al., "Robust fine-tuning of zero-shot models", 2022: interpolating a fine-tune back
towards its start keeps what it gained and loses less of what the start did well). Here the two
ends disagree usefully: v15 counts best on the calibration photos, v19 (four more epochs, with
the stack photos) finds stacked units best (docs/model.md, seventh round).

The result is an Ultralytics checkpoint (A's, with the averaged network in place of its own
and no EMA or optimizer state): ``python -m training.build --config CFG --weights SOUP.pt``
exports, quantizes and calibrates it like any trained network.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def average(a: dict, b: dict, alpha: float) -> dict:
    """``(1 - alpha) * a + alpha * b`` for every floating-point entry of two state dicts of the
    same network (``name -> array``); integer entries (counters) are ``a``'s. Refuses two
    networks that differ in a tensor's name or shape."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha {alpha} is not between 0 and 1")
    if set(a) != set(b):
        raise ValueError(f"not one network: tensors only in one of them: {sorted(set(a) ^ set(b))[:5]}")
    out = {}
    for name, x in a.items():
        x, y = np.asarray(x), np.asarray(b[name])
        if x.shape != y.shape:
            raise ValueError(f"not one network: {name} has shape {x.shape} against {y.shape}")
        if np.issubdtype(x.dtype, np.floating):
            mixed = (1.0 - alpha) * x.astype(np.float64) + alpha * y.astype(np.float64)
            out[name] = mixed.astype(x.dtype)
        else:
            out[name] = x.copy()
    return out


def soup(a: Path, b: Path, alpha: float, out: Path) -> Path:
    """Write the checkpoint of the network between ``a`` and ``b`` at ``alpha``."""
    from training import offline

    offline.configure(out.parent)  # unpickling a checkpoint imports Ultralytics: keep it off the network
    import torch

    from training.checkpoint_shift import state_of

    ck_a = torch.load(a, map_location="cpu", weights_only=False)
    net_a = (ck_a.get("ema") or ck_a["model"]).float()  # A's network is the vessel of the average
    mixed = average({k: v.numpy() for k, v in net_a.state_dict().items()}, state_of(b), alpha)
    net_a.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in mixed.items()})
    ck = {**ck_a, "model": net_a.half(), "ema": None, "optimizer": None, "updates": None,
          "soup": {"a": str(a), "b": str(b), "alpha": alpha}}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ck, out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--alpha", type=float, default=0.5, help="B's share (0: A itself, 1: B itself)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    path = soup(args.a, args.b, args.alpha, args.out)
    print(f"{path}: {1 - args.alpha:g} x {args.a.name} + {args.alpha:g} x {args.b.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
