"""A worker's model store runs the faster of a model's INT8 and FP32 forms on this CPU, measured once."""

from __future__ import annotations

import json

import pytest

from ops.cli import main
from shared import tuning
from shared.model_store import ModelStore


@pytest.fixture
def tuned(stack, tmp_path):
    return stack.settings(model_tune=True, model_cache_dir=tmp_path / "models", env="test")


def test_the_serving_version_or_its_faster_twin_runs_and_the_choice_is_kept(tuned, monkeypatch):
    store = ModelStore(tuned)
    registered, _ = store.serving("accurate")
    assert registered == "shelfwatch-v1-int8"
    det = store.for_mode("accurate")
    assert det.version in (registered, "shelfwatch-v1-fp32")  # a result is recorded under the form that ran
    [entry] = json.loads((tuned.model_cache_dir / "tuning.json").read_text()).values()
    assert set(entry["ms"]) == {"shelfwatch-v1-int8", "shelfwatch-v1-fp32"}
    assert all(ms > 0 for ms in entry["ms"].values())
    assert entry["choice"] == det.version
    faster = min(entry["ms"], key=entry["ms"].get)
    # the twin wins only by the margin: otherwise the registered form stays
    expected = faster if entry["ms"][faster] < (1 - tuning.MARGIN) * entry["ms"][registered] else registered
    assert det.version == expected

    def measured(*_: object, **__: object) -> dict:
        raise AssertionError("measured again on the same CPU")

    monkeypatch.setattr(tuning, "measure", measured)
    assert ModelStore(tuned).for_mode("accurate").version == det.version  # another process reads the answer


def test_without_model_tune_the_registered_form_runs(tuned):
    store = ModelStore(tuned.model_copy(update={"model_tune": False}))
    assert store.for_mode("accurate").version == "shelfwatch-v1-int8"
    assert not (tuned.model_cache_dir / "tuning.json").exists()


def test_models_tune_measures_and_shows_the_choice(cli_env, monkeypatch, tmp_path, capsys):
    from shared.settings import get_settings

    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MODEL_PATH", raising=False)
    get_settings.cache_clear()
    assert main(["models", "tune"]) == 0
    out = capsys.readouterr().out
    assert "accurate: registered shelfwatch-v1-int8, runs shelfwatch-v1-" in out
    assert "fast: registered shelfwatch-v1-int8" in out
    assert "model-only ms {'shelfwatch-v1-int8'" in out
