"""The real-photo labelling tool's bookkeeping: corrections applied to proposals, two passes compared."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training import label_real


def _proposals(work, name="p1"):
    work.mkdir(parents=True, exist_ok=True)
    (work / f"{name}.proposals.json").write_text(json.dumps({
        "photo": name, "model": "m", "conf": 0.1, "width": 200, "height": 100,
        "boxes": [[0, 0, 20, 50], [20, 0, 40, 50], [40, 0, 60, 50], [150, 60, 200, 100]],
        "confidence": [0.9, 0.8, 0.2, 0.15]}))


def test_rejected_proposals_go_and_added_boxes_come(tmp_path):
    work, labels = tmp_path / "work", tmp_path / "labels"
    _proposals(work)
    labels.mkdir()
    (labels / "p1.json").write_text(json.dumps({"proposals": {"model": "m", "conf": 0.1, "n": 4},
                                                "reject": [2, 3], "add": [[60, 0, 80, 50]]}))
    label_real.apply(["p1"], work, labels)
    boxes = label_real.read_labels(labels / "p1.txt", 200, 100)
    np.testing.assert_allclose(boxes, [[0, 0, 20, 50], [20, 0, 40, 50], [60, 0, 80, 50]], atol=1e-3)
    assert (labels / "p1.txt").read_text().splitlines()[0] == "0 0.050000 0.250000 0.100000 0.500000"


@pytest.mark.parametrize("fix", [{"reject": [7]}, {"proposals": {"model": "other", "conf": 0.1, "n": 4}}])
def test_corrections_made_on_other_proposals_are_refused(tmp_path, fix):
    work, labels = tmp_path / "work", tmp_path / "labels"
    _proposals(work)
    labels.mkdir()
    (labels / "p1.json").write_text(json.dumps(fix))
    with pytest.raises(SystemExit):
        label_real.apply(["p1"], work, labels)


def test_two_passes_agree_by_box_f1(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "p1.txt").write_text("0 0.05 0.25 0.1 0.5\n0 0.15 0.25 0.1 0.5\n")
    (second / "p1.txt").write_text("0 0.05 0.25 0.1 0.5\n")  # the second pass saw one product, not two
    assert label_real.agree(["p1"], second, first, sizes={"p1": (200, 100)}) == pytest.approx(2 / 3)


def test_a_region_without_products_rejects_what_is_centred_in_it(tmp_path):
    work, labels = tmp_path / "work", tmp_path / "labels"
    _proposals(work)
    labels.mkdir()
    # the floor: the lower-right proposal (centre 175, 80) and, by its centre (30, 25), proposal 1 too
    (labels / "p1.json").write_text(json.dumps({"reject_regions": [[100, 55, 200, 100], [25, 0, 35, 50]],
                                                "keep": [1]}))
    label_real.apply(["p1"], work, labels)
    boxes = label_real.read_labels(labels / "p1.txt", 200, 100)
    np.testing.assert_allclose(boxes, [[0, 0, 20, 50], [20, 0, 40, 50], [40, 0, 60, 50]], atol=1e-3)
