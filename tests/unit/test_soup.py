import numpy as np
import pytest

from training.soup import average


def _state(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"conv.weight": rng.normal(size=(4, 3, 3, 3)).astype(np.float32),
            "bn.bias": rng.normal(size=4).astype(np.float32),
            "bn.running_var": rng.uniform(0.5, 2.0, size=4).astype(np.float32),
            "bn.num_batches_tracked": np.array(seed * 10, dtype=np.int64)}


def test_every_float_tensor_lies_between_the_two_networks_and_counters_stay_the_first_ones():
    a, b = _state(1), _state(2)
    mixed = average(a, b, 0.25)
    for name in ("conv.weight", "bn.bias", "bn.running_var"):
        np.testing.assert_allclose(mixed[name], 0.75 * a[name] + 0.25 * b[name], rtol=1e-5, atol=1e-6)
        assert mixed[name].dtype == a[name].dtype
    assert mixed["bn.num_batches_tracked"] == a["bn.num_batches_tracked"]


def test_the_ends_are_the_networks_themselves():
    a, b = _state(3), _state(4)
    for name in a:
        np.testing.assert_array_equal(average(a, b, 0.0)[name], a[name])
    np.testing.assert_allclose(average(a, b, 1.0)["conv.weight"], b["conv.weight"])


def test_two_different_networks_or_an_alpha_outside_the_segment_are_refused():
    a, b = _state(5), _state(6)
    with pytest.raises(ValueError, match="shape"):
        average(a, {**b, "conv.weight": np.zeros((2, 3, 3, 3), np.float32)}, 0.5)
    with pytest.raises(ValueError, match="only in one"):
        average(a, {k: v for k, v in b.items() if k != "bn.bias"}, 0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        average(a, b, 1.5)
