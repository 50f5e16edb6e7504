"""devtools.bench.model_cost: models in turn on the same photos, ratios to the first."""

from pathlib import Path

import pytest

from devtools.bench import model_cost
from tests.paths import MODELS, SAMPLES


def test_a_model_against_itself_at_two_sizes():
    photos = [p.read_bytes() for p in SAMPLES[:1]]
    model = MODELS / "shelfwatch-v1-int8.onnx"
    out = model_cost.run([(model, 256), (model, None)], photos, rounds=2)
    assert list(out) == ["shelfwatch-v1-int8@256", "shelfwatch-v1-int8@640"]  # the card's size spelled out
    assert out["shelfwatch-v1-int8@256"]["ratio_to_first"] == 1.0
    assert out["shelfwatch-v1-int8@640"]["ms_per_photo"] > 0


def test_a_size_is_read_from_the_spec():
    assert model_cost.parse("models/x.onnx@800") == (Path("models/x.onnx"), 800)
    assert model_cost.parse("models/x.onnx") == (Path("models/x.onnx"), None)


def test_nothing_to_time_is_an_error():
    with pytest.raises(ValueError, match="at least one"):
        model_cost.run([], [b"x"])
