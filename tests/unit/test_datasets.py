"""SKU-110K CSV import: boxes become YOLO labels, images are linked, bad rows are caught."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from training.datasets import import_sku110k, read_sku110k_csv
from training.train import split


def test_sku110k_csv_to_yolo(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        cv2.imwrite(str(images / name), np.zeros((100, 200, 3), np.uint8))
    csv = tmp_path / "ann.csv"
    csv.write_text("a.jpg,10,20,50,60,object,200,100\n"
                   "a.jpg,150,0,250,40,object,200,100\n"   # runs off the right edge: clipped
                   "b.jpg,0,0,200,100,object,200,100\n"
                   "c.jpg,5,5,5,50,object,200,100\n")      # zero width: dropped
    yaml = import_sku110k(csv, images, tmp_path / "out", val_fraction=0.5, seed=1)
    train_imgs, train_labels = split(yaml, "train")
    val_imgs, val_labels = split(yaml, "val")
    assert len(train_imgs) + len(val_imgs) == 2  # c.jpg had no valid box
    a = (train_labels if any(p.name == "a.jpg" for p in train_imgs) else val_labels) / "a.txt"
    rows = [list(map(float, ln.split())) for ln in a.read_text().split("\n") if ln]
    assert rows[0] == pytest.approx([0, 30 / 200, 40 / 100, 40 / 200, 40 / 100])
    assert rows[1] == pytest.approx([0, 175 / 200, 20 / 100, 50 / 200, 40 / 100])


def test_wrong_column_count_is_reported(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("a.jpg,1,2,3\n")
    with pytest.raises(ValueError, match="8 columns"):
        read_sku110k_csv(csv)


def test_calibration_draws_from_every_training_folder():
    from pathlib import Path

    from training.build import calibration_photos

    synthetic = [Path(f"synthetic/{i}.jpg") for i in range(200)]
    real = [Path(f"real/{i}.jpg") for i in range(100)]
    picked = calibration_photos([synthetic, real], 48)
    assert len(picked) == 48
    assert len(set(picked)) == 48
    assert sum(p.parts[0] == "real" for p in picked) == 24
    assert picked[:3] == [synthetic[0], synthetic[8], synthetic[16]]  # spread, not the first few
