"""Choosing a model's graph form by measuring it (shared/tuning.py): pure logic, fake models."""

from __future__ import annotations

import json
import time

import numpy as np
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


def test_form_names_carry_the_provider():
    assert tuning.form_name("m-int8") == "m-int8"
    assert tuning.form_name("m-int8", "openvino") == "m-int8+openvino"
    assert tuning.parse_form("m-int8+openvino") == ("m-int8", "openvino")
    assert tuning.parse_form("m-fp32") == ("m-fp32", "cpu")


def test_box_f1_matches_one_to_one():
    a = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32)
    assert tuning.box_f1(a, a) == 1.0
    assert tuning.box_f1(a, a[:1]) == pytest.approx(2 / 3)
    # two boxes on the same product are one match, not two
    assert tuning.box_f1(a[:1], np.vstack([a[:1], a[:1] + 1])) == pytest.approx(2 / 3)
    assert tuning.box_f1(a, a + 100) == 0.0
    assert tuning.box_f1(a[:0], a[:0]) == 1.0


def test_a_faster_form_that_finds_other_boxes_is_refused(tmp_path):
    """Another provider's run of an INT8 graph can find other boxes (OpenVINO: F1 0.67 here)."""
    cache = tmp_path / "tuning.json"
    runs = {"m-int8": _slow(12), "m-int8+openvino": _slow(3), "m-fp32+openvino": _slow(6)}
    agree = {"m-int8+openvino": lambda: 0.67, "m-fp32+openvino": lambda: 1.0}
    assert tuning.choose(cache, "m-int8", 640, 1, runs, agree) == "m-fp32+openvino"
    entry = next(iter(json.loads(cache.read_text()).values()))
    assert entry["rejected"] == ["m-int8+openvino"]
    assert "m-int8+openvino" not in entry["ms"]  # not even timed
    assert entry["agreement"] == {"m-int8+openvino": 0.67, "m-fp32+openvino": 1.0}


def test_providers_this_onnxruntime_lacks_are_refused_clearly():
    from shared.detector import available_providers, session_providers

    assert available_providers()[0] == "cpu"
    assert session_providers("cpu", 1) == ["CPUExecutionProvider"]
    with pytest.raises(ValueError, match="'tpu' is not in this ONNX Runtime"):
        session_providers("tpu", 1)
    if "openvino" in available_providers():  # an image built on onnxruntime-openvino
        assert session_providers("openvino", 2)[0][0] == "OpenVINOExecutionProvider"
    else:  # the project's own venv: onnxruntime without it
        with pytest.raises(ValueError, match="not in this ONNX Runtime"):
            session_providers("openvino", 1)


def test_the_bf16_provider_is_offered_only_with_openvino_on_a_cpu_that_computes_bf16(monkeypatch):
    from shared import detector

    monkeypatch.setattr(detector.ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert detector.available_providers({"amx_bf16"}) == ["cpu"]  # onnxruntime without OpenVINO's EP
    monkeypatch.setattr(detector.ort, "get_available_providers",
                        lambda: ["OpenVINOExecutionProvider", "CPUExecutionProvider"])
    assert detector.available_providers({"avx2", "avx512f"}) == ["cpu", "openvino"]  # no native BF16: not offered
    assert detector.available_providers({"avx512_bf16"}) == ["cpu", "openvino", "openvino-bf16"]
    assert detector.available_providers({"amx_bf16"}) == ["cpu", "openvino", "openvino-bf16"]
    monkeypatch.setattr(detector, "cpu_flags", lambda: {"amx_tile", "amx_bf16"})
    (ep, options), fallback = detector.session_providers("openvino-bf16", 2)
    assert ep == "OpenVINOExecutionProvider"
    assert fallback == "CPUExecutionProvider"
    assert json.loads(options["load_config"]) == {"CPU": {"INFERENCE_PRECISION_HINT": "bf16"}}
    assert options["num_of_threads"] == "2"
    (_, plain), _ = detector.session_providers("openvino", 2)
    assert plain["precision"] == "FP32"
    assert "load_config" not in plain
    monkeypatch.setattr(detector, "cpu_flags", lambda: {"avx2"})
    with pytest.raises(ValueError, match="not for this CPU"):
        detector.session_providers("openvino-bf16", 1)
