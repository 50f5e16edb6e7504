"""Choosing a model's graph form by measuring it (shared/tuning.py): pure logic, fake models."""

from __future__ import annotations

import json
import time

import pytest

from shared import tuning


def test_twins_by_name():
    assert tuning.twin("shelfwatch-v11-int8") == "shelfwatch-v11-fp32"
    assert tuning.twin("shelfwatch-v11-fp32") == "shelfwatch-v11-int8"
    assert tuning.twin("shelfwatch-v11-int8@512") is None  # a resized form is chosen by its base, not renamed
    assert tuning.twin("yolo11n") is None


def test_the_cpu_key_names_the_instruction_sets_that_matter():
    key = tuning.cpu_key()
    assert key.endswith("]")
    assert set(key.rsplit("[", 1)[1].rstrip("]").split()) <= set(tuning.FLAGS)


def _slow(ms: float):
    return lambda: time.sleep(ms / 1e3)


def test_the_twin_runs_only_when_it_is_clearly_faster_and_the_answer_is_kept(tmp_path):
    cache = tmp_path / "tuning.json"
    assert tuning.choose(cache, "m-int8", 640, 1, {"m-int8": _slow(12), "m-fp32": _slow(4)}) == "m-fp32"
    entry = next(iter(json.loads(cache.read_text()).values()))
    assert entry["choice"] == "m-fp32"
    assert entry["ms"]["m-int8"] > entry["ms"]["m-fp32"]
    assert entry["cpu"] == tuning.cpu_key()

    def never() -> None:
        raise AssertionError("measured again: the kept answer was not used")

    assert tuning.choose(cache, "m-int8", 640, 1, {"m-int8": never, "m-fp32": never}) == "m-fp32"
    # another thread count is another measurement; a twin no faster than the margin loses
    assert tuning.choose(cache, "m-int8", 640, 2, {"m-int8": _slow(5), "m-fp32": _slow(5)}) == "m-int8"
    assert len(json.loads(cache.read_text())) == 2


def test_measure_takes_turns_and_medians():
    calls: list[str] = []
    ms = tuning.measure({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=3)
    assert calls == ["a", "b"] + ["a", "b"] * 3  # a warm-up each, then round after round
    assert set(ms) == {"a", "b"}


@pytest.mark.parametrize(("size", "rect", "shape"), [(640, True, (1, 3, 480, 640)), (512, False, (1, 3, 512, 512))])
def test_the_blank_input_is_a_letterboxed_photo(size, rect, shape):
    assert tuning.blank_input(size, rect).shape == shape
