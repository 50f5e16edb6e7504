"""The drift statistic (PSI) on known distributions: pure logic."""

from __future__ import annotations

import numpy as np

from shared.model_health import psi


def test_psi_is_near_zero_for_the_same_distribution():
    rng = np.random.default_rng(1)
    assert psi(rng.normal(100, 20, 5000), rng.normal(100, 20, 5000)) < 0.02


def test_psi_grows_with_the_shift():
    rng = np.random.default_rng(2)
    ref = rng.normal(100, 20, 5000)
    small = psi(ref, rng.normal(104, 20, 5000))  # a fifth of a standard deviation
    large = psi(ref, rng.normal(120, 20, 5000))  # one standard deviation: a real shift
    assert 0.01 < small < 0.1
    assert large > 0.25
    assert large > small


def test_psi_of_a_collapse_to_one_value_is_large_and_finite():
    rng = np.random.default_rng(3)
    value = psi(rng.normal(0.6, 0.1, 2000), np.full(500, 0.2))
    assert np.isfinite(value)
    assert value > 1.0


def test_psi_of_nothing_is_zero():
    assert psi([], [1.0, 2.0]) == 0.0
    assert psi([1.0, 2.0], []) == 0.0
