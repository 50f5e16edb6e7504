"""`python -m training.checkpoint_shift BEFORE.pt AFTER.pt`: how far a fine-tune moved a network.

For each learnt tensor, the mean absolute change relative to its mean absolute size; printed as
the median over the biases (BatchNorm shifts included) and over the weights. A short fine-tune
at a small learning rate should move both a little. Ultralytics' warm-up starts the bias
learning rate at ``warmup_bias_lr`` (0.1, meant for SGD); with AdamW every parameter steps by
about its learning rate, so two epochs from a checkpoint moved v15's and v17's biases a median
~30 % while the weights moved ~0.5 % (docs/model.md, sixth round). ``warmup_bias_lr: 0``
in a fine-tune's config keeps the biases in step with the weights.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def shift(before: dict, after: dict) -> dict[str, float]:
    """Median relative change of the biases and of the weights between two state dicts of
    the same network (``name -> tensor or array``); running statistics are not learnt and are
    left out."""
    biases: list[float] = []
    weights: list[float] = []
    for name, a in before.items():
        if "running" in name or "num_batches" in name or name not in after:
            continue
        a, b = np.asarray(a), np.asarray(after[name])
        if a.shape != b.shape or not np.issubdtype(a.dtype, np.floating):
            continue  # a counter, or another network's tensor
        a, b = a.astype(np.float64), b.astype(np.float64)
        rel = float(np.abs(b - a).mean() / (np.abs(a).mean() + 1e-9))
        (biases if name.endswith("bias") else weights).append(rel)
    return {"biases": float(np.median(biases)) if biases else 0.0,
            "weights": float(np.median(weights)) if weights else 0.0,
            "n_biases": len(biases), "n_weights": len(weights)}


def state_of(checkpoint: Path) -> dict:
    """An Ultralytics checkpoint's network (its EMA where saved) as ``name -> array``."""
    from training import offline

    offline.configure(Path("build"))  # unpickling a checkpoint imports Ultralytics: keep it off the network
    import torch

    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = (ck.get("ema") or ck["model"]).float()
    return {k: v.numpy() for k, v in model.state_dict().items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    args = ap.parse_args(argv)
    s = shift(state_of(args.before), state_of(args.after))
    print(f"{args.before.name} -> {args.after.name}: median relative change, biases {s['biases']:.4f} "
          f"({s['n_biases']} tensors), weights {s['weights']:.4f} ({s['n_weights']} tensors)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
