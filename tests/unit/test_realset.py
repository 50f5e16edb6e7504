"""Real product boxes as training pictures: whole photo and tiles, slivers greyed, the split kept, repeats."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from training import label_real, realset
from training.pseudolabel import GREY


def test_a_tile_keeps_mostly_inside_boxes_clipped_and_greys_slivers():
    image = np.full((100, 200, 3), 255, np.uint8)
    # tile 1 of a 2 x 2 cut with no overlap is x 0-100, y 0-50
    boxes = np.array([[10, 10, 40, 40],     # wholly inside tile 1
                      [80, 10, 110, 40],    # 2/3 inside tile 1: kept, clipped at x 100
                      [90, 10, 130, 40]],   # 1/4 inside tile 1: a sliver there, greyed
                     np.float32)
    pieces = realset.pieces(image, boxes, grid=2, overlap=0.0, min_visible=0.6)
    assert len(pieces) == 5  # the whole photo, then four tiles
    np.testing.assert_array_equal(pieces[0][1], boxes)
    tile, kept = pieces[1]
    assert tile.shape[:2] == (50, 100)
    np.testing.assert_allclose(kept, [[10, 10, 40, 40], [80, 10, 100, 40]])
    assert (tile[10:40, 90:100] == GREY).all()  # the sliver of the third box
    assert (tile[10:40, 10:40] == 255).all()  # a kept box is never painted
    _, kept2 = pieces[2]  # x 100-200: the third box is 3/4 inside, the second 1/3
    np.testing.assert_allclose(kept2, [[0, 10, 30, 40]])


def _real_folder(tmp_path):
    real, labels = tmp_path / "real", tmp_path / "labels"
    (real / "images").mkdir(parents=True)
    labels.mkdir()
    image = np.full((200, 300, 3), 200, np.uint8)
    for name in ("t1", "v1"):
        cv2.imwrite(str(real / "images" / f"{name}.jpg"), image)
        (labels / f"{name}.txt").write_text("0 0.2 0.2 0.1 0.1\n0 0.8 0.8 0.1 0.1\n")
    (real / "train.txt").write_text("images/t1.jpg\nimages/t2.jpg\n")  # t2 has no labels
    (real / "val.txt").write_text("images/v1.jpg\n")
    return real, labels


def test_only_labelled_train_photos_are_taught_each_repeated(tmp_path):
    real, labels = _real_folder(tmp_path)
    photos = realset.labelled_train(real / "images", real / "train.txt", labels)
    assert [p.stem for p in photos] == ["t1"]  # v1 is a val photo: its boxes measure, never teach
    out = realset.build(photos, labels, tmp_path / "set", repeat=3, grid=2)
    names = sorted(p.stem for p in (out).iterdir())
    assert len(names) == 3 * 5
    assert {"t1-whole-r2", "t1-tile4-r0"} <= set(names)
    whole = (tmp_path / "set" / "labels" / "train" / "t1-whole-r0.txt").read_text().splitlines()
    assert len(whole) == 2
    # built afresh: fewer repeats leave no stale copies behind
    realset.build(photos, labels, tmp_path / "set", repeat=1, grid=2)
    assert len(list(out.iterdir())) == 5
    with pytest.raises(ValueError, match="repeat must be at least 1"):
        realset.build(photos, labels, tmp_path / "set", repeat=0)


def test_an_unjudged_region_is_greyed_and_its_boxes_dropped(tmp_path):
    real, labels = _real_folder(tmp_path)
    (labels / "t1.json").write_text(json.dumps({"ignore_regions": [[200, 120, 300, 200]]}))
    out = realset.build([real / "images" / "t1.jpg"], labels, tmp_path / "set", grid=1)
    picture = cv2.imread(str(out / "t1-whole-r0.jpg"))
    assert picture is not None
    assert abs(int(picture[160, 250, 0]) - GREY) <= 3
    assert abs(int(picture[40, 60, 0]) - 200) <= 3
    kept = (tmp_path / "set" / "labels" / "train" / "t1-whole-r0.txt").read_text().splitlines()
    assert kept == ["0 0.200000 0.200000 0.100000 0.100000"]  # the box centred at (240, 160) went with it


def test_ignore_regions_are_refused_on_a_val_photo(tmp_path, monkeypatch):
    real, labels = _real_folder(tmp_path)
    monkeypatch.setenv("REAL_DATA_DIR", str(real))
    work = tmp_path / "work"
    work.mkdir()
    for name in ("t1", "v1"):
        (work / f"{name}.proposals.json").write_text(json.dumps({
            "photo": name, "model": "m", "conf": 0.1, "width": 300, "height": 200,
            "boxes": [[0, 0, 20, 50]], "confidence": [0.9]}))
        (labels / f"{name}.json").write_text(json.dumps({"ignore_regions": [[0, 0, 10, 10]]}))
    label_real.apply(["t1"], work, labels)
    with pytest.raises(SystemExit, match="val photo is labelled whole"):
        label_real.apply(["v1"], work, labels)


def test_a_config_can_hold_the_photos_still(tmp_path):
    from training import train

    real, labels = _real_folder(tmp_path)
    (real / "train.txt").write_text("images/t1.jpg\nimages/t3.jpg\n")
    cv2.imwrite(str(real / "images" / "t3.jpg"), np.full((200, 300, 3), 200, np.uint8))
    (labels / "t3.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    cfg = {"photos": str(real / "images"), "list": str(real / "train.txt"), "labels": str(labels), "grid": 1}
    assert {p.stem.split("-")[0] for p in train._real(cfg, tmp_path / "w").iterdir()} == {"t1", "t3"}
    assert {p.stem.split("-")[0] for p in train._real({**cfg, "names": ["t3"]}, tmp_path / "w").iterdir()} == {"t3"}
    with pytest.raises(FileNotFoundError, match="v1"):  # a val photo is never a train photo
        train._real({**cfg, "names": ["v1"]}, tmp_path / "w")
