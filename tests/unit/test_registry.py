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


def diff_of(version: str, old: int, new: int, rows: list[tuple[str, int, int, int]] | None = None) -> dict:
    pct = round(100 * (new - old) / old, 1)
    return {"model_version": version, "photos": 40, "totals": {"old": old, "new": new, "change": new - old,
                                                               "change_pct": pct},
            "by_store_and_class": [{"store_id": s, "class": "product", "old": o, "new": n, "change": n - o,
                                    "change_pct": round(100 * (n - o) / o, 1), "photos": k}
                                   for s, o, n, k in rows or []]}


def test_a_rescan_diff_refuses_a_candidate_whose_counts_jump():
    from training.promote import rescan_evidence

    assert rescan_evidence(diff_of("v12", 1000, 1080), "v12") is None  # +8 %: within the limit
    assert "total" in (rescan_evidence(diff_of("v12", 1000, 1300), "v12") or "")
    one_store = diff_of("v12", 1000, 1050, [("north", 500, 500, 20), ("south", 500, 650, 20)])
    assert "south" in (rescan_evidence(one_store, "v12") or "")
    few_photos = diff_of("v12", 1000, 1050, [("north", 500, 500, 35), ("tiny", 10, 20, 2)])
    assert rescan_evidence(few_photos, "v12") is None  # two photos are no evidence
    assert "not of the candidate" in (rescan_evidence(diff_of("v11", 1000, 1000), "v12") or "")


def test_a_card_serves_the_threshold_calibrated_at_each_size_and_the_api_says_which(tmp_path):
    from api.models import served_threshold
    from shared.detector import ModelCard

    card = {"version": "m", "file": "m.onnx", "sha256": "x", "classes": ["product"], "input_size": 800,
            "conf_threshold": 0.35, "iou_threshold": 0.6, "max_det": 300, "conf_thresholds": {"640": 0.25, "800": 0.35}}
    (tmp_path / "m.json").write_text(json.dumps(card))
    loaded = ModelCard.load(tmp_path / "m.onnx")
    assert loaded.threshold_at(640) == 0.25
    assert loaded.threshold_at(800) == 0.35
    assert loaded.threshold_at(1024) == 0.35  # not calibrated there: the card's own
    for size in (None, 640, 800, 1024):
        assert served_threshold(card, size) == loaded.threshold_at(size or 800)
    assert served_threshold({"input_size": 640, "conf_threshold": 0.2}, None) == 0.2  # an older card


def test_a_card_may_hold_the_not_a_shelf_limits_per_input_size(tmp_path):
    from shared import plausibility
    from shared.detector import ModelCard

    card = {"version": "m", "file": "m.onnx", "sha256": "x", "classes": ["product"], "input_size": 800,
            "conf_threshold": 0.3, "iou_threshold": 0.6, "max_det": 300,
            "shelf_check": {"max_confident_share": 0.12, "measured": "how",
                            "by_size": {"640": {"max_confident_share": 0.02}}}}
    (tmp_path / "m.json").write_text(json.dumps(card))
    loaded = ModelCard.load(tmp_path / "m.onnx")
    assert plausibility.limits_of(loaded.shelf_check_at(640))[1] == 0.02
    assert plausibility.limits_of(loaded.shelf_check_at(1024))[1] == 0.12  # no size of its own: the card's
    assert (loaded.shelf_check_at(640) or {}).get("measured") == "how"
    card.pop("shelf_check")
    (tmp_path / "m.json").write_text(json.dumps(card))
    assert ModelCard.load(tmp_path / "m.onnx").shelf_check_at(640) is None  # the defaults
