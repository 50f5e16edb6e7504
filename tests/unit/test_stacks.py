"""Stacks of identical packs are told from single products by their repetition."""

from __future__ import annotations

import numpy as np

from training.stacks import layer_repeat, looks_stacked


def pack(rng: np.random.Generator, h: int = 40, w: int = 60) -> np.ndarray:
    """A printed pack: blocks of colour at a coarse scale, as a label's print is."""
    coarse = rng.integers(0, 255, (5, 6, 3), dtype=np.uint8)
    return np.kron(coarse, np.ones((h // 5, w // 6, 1), np.uint8))


def noisy(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(img.astype(int) + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)


def test_a_stack_of_identical_packs_is_found_with_its_layer_count():
    rng = np.random.default_rng(0)
    for layers in (2, 3, 4):
        p = pack(rng)
        stack = noisy(np.vstack([p] * layers), rng)  # the same pack, photographed layer by layer
        assert looks_stacked(stack)
        assert layer_repeat(stack.mean(axis=2))[0] == layers


def test_single_products_are_not_stacks():
    rng = np.random.default_rng(1)
    singles = [
        noisy(pack(rng, 120, 60), rng),                             # one tall printed pack
        noisy(np.vstack([pack(rng), pack(rng)]), rng),              # two *different* packs
        np.tile(np.linspace(40, 220, 50, dtype=np.float32), (120, 1)).astype(np.uint8),  # uniform top to bottom
        np.full((120, 60), 128, np.uint8),                          # a plain carton
    ]
    assert not any(looks_stacked(s) for s in singles)


def test_slivers_and_empty_crops_are_not_stacks():
    assert not looks_stacked(np.zeros((0, 10, 3), np.uint8))
    assert not looks_stacked(np.zeros((50, 2, 3), np.uint8))
    assert layer_repeat(np.zeros((12, 40), np.float32)) == (1, 0.0, 0.0)  # layers too thin to compare
