"""Mode → model resolution, and versions that tell input sizes apart."""

from __future__ import annotations

import json

import pytest

from shared import registry


def test_registry_maps_modes_to_models_and_sizes(tmp_path):
    registry.save(tmp_path, {"modes": {"fast": {"model": "a.onnx", "input_size": 512},
                                       "accurate": {"model": "b.onnx"}}})
    modes = registry.resolve(tmp_path, None)
    assert modes["fast"].model == tmp_path / "a.onnx"
    assert modes["fast"].input_size == 512
    assert modes["accurate"].model == tmp_path / "b.onnx"
    assert modes["accurate"].input_size is None
    assert json.loads(registry.registry_path(tmp_path).read_text())["modes"]["fast"]["model"] == "a.onnx"


def test_pinned_model_serves_every_mode(tmp_path):
    modes = registry.resolve(tmp_path, tmp_path / "x.onnx")
    assert {m.model for m in modes.values()} == {tmp_path / "x.onnx"}


def test_missing_registry_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="promote"):
        registry.resolve(tmp_path, None)
