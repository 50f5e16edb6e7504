import numpy as np

from training.checkpoint_shift import shift


def test_biases_and_weights_are_measured_apart_and_running_statistics_left_out():
    rng = np.random.default_rng(0)
    before = {"conv.weight": rng.normal(size=(8, 3, 3, 3)), "bn.weight": np.ones(8), "bn.bias": np.full(8, 2.0),
              "head.bias": np.full(4, -5.0), "bn.running_mean": np.zeros(8)}
    after = {"conv.weight": before["conv.weight"] * 1.01, "bn.weight": before["bn.weight"] * 1.01,
             "bn.bias": before["bn.bias"] * 1.3, "head.bias": before["head.bias"] * 1.5,
             "bn.running_mean": np.full(8, 100.0)}
    s = shift(before, after)
    assert s["n_biases"] == 2  # the running mean is not learnt
    assert s["n_weights"] == 2
    assert abs(s["weights"] - 0.01) < 1e-9
    assert abs(s["biases"] - 0.4) < 1e-9  # the median of 0.3 and 0.5


def test_a_network_that_did_not_move_reads_zero():
    state = {"a.weight": np.arange(6.0).reshape(2, 3), "a.bias": np.array([1.0, -1.0])}
    assert shift(state, {k: v.copy() for k, v in state.items()}) == {"biases": 0.0, "weights": 0.0,
                                                                      "n_biases": 1, "n_weights": 1}
