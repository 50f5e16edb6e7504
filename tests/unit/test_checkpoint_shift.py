import numpy as np

from training.checkpoint_shift import shift


def test_biases_and_weights_are_measured_apart_and_running_statistics_left_out():
    rng = np.random.default_rng(0)
    before = {"conv.weight": rng.normal(size=(8, 3, 3, 3)), "bn.weight": np.ones(8), "bn.bias": np.full(8, 2.0),
              "head.bias": np.full(4, -5.0), "bn.running_mean": np.zeros(8)}
    after = {"conv.weight": before["conv.weight"] * 1.01, "bn.weight": before["bn.weight"] * 1.01,
             "bn.bias": before["bn.bias"] * 1.3, "head.bias": before["head.bias"] * 1.5,
             "bn.running_mean": np.full(8, 100.0)}
    before["bn.num_batches_tracked"], after["bn.num_batches_tracked"] = np.array(5), np.array(9)
    before["head.anchors"], after["head.anchors"] = np.arange(4), np.arange(4) * 3  # integer: not learnt
    s = shift(before, after)
    assert s["n_biases"] == 2  # the running mean is not learnt
    assert s["n_weights"] == 2
    assert abs(s["weights"] - 0.01) < 1e-9
    assert abs(s["biases"] - 0.4) < 1e-9  # the median of 0.3 and 0.5


def test_a_network_that_did_not_move_reads_zero():
    state = {"a.weight": np.arange(6.0).reshape(2, 3), "a.bias": np.array([1.0, -1.0])}
    assert shift(state, {k: v.copy() for k, v in state.items()}) == {"biases": 0.0, "weights": 0.0,
                                                                      "n_biases": 1, "n_weights": 1}


def test_configs_after_the_finding_keep_adamw_off_the_sgd_bias_warm_up():
    """Ultralytics warms biases up from ``warmup_bias_lr`` 0.1, an SGD-sized step; with AdamW it
    shook v15's and v17's biases ~30 % (docs/model.md, v18). The configs written before that was
    measured keep it, so they reproduce their committed models; every later AdamW config turns
    it off."""
    from pathlib import Path

    import yaml

    before = {f"v{i}" for i in range(1, 18)} | {"v12-r2", "v12-two-photos", "smoke"}
    configs = Path(__file__).resolve().parents[2] / "training" / "configs"
    later = [p for p in sorted(configs.glob("*.yaml")) if p.stem not in before]
    assert {"v18", "v19", "s1"} <= {p.stem for p in later}
    for path in later:
        train = (yaml.safe_load(path.read_text()) or {}).get("train", {})
        if str(train.get("optimizer", "")).lower() in ("adamw", "adam"):
            assert train.get("warmup_bias_lr") == 0, f"{path.name} warms AdamW's biases up like SGD's"
