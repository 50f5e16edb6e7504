"""`shelfwatch detect`: the committed detector on local photos, without the farm."""

from __future__ import annotations

import json

from ops.cli import main
from shared.detector import Detector
from tests.conftest import MODEL, SAMPLES


def test_detect_json_matches_the_detector(capsys):
    assert main(["detect", str(SAMPLES[0]), str(SAMPLES[1]), "--json", "--model", str(MODEL)]) == 0
    doc = json.loads(capsys.readouterr().out)
    det = Detector(MODEL)
    assert doc["model_version"] == det.version
    assert [p["path"] for p in doc["photos"]] == [str(SAMPLES[0]), str(SAMPLES[1])]
    for p, path in zip(doc["photos"], SAMPLES[:2], strict=True):
        expected = [d.to_dict() for d in det.detect(path.read_bytes())]
        assert p["detections"] == expected
        assert sum(p["counts"].values()) == len(expected)
        for d in p["detections"]:
            assert set(d) == {"class", "confidence", "box"}
            assert len(d["box"]) == 4


def test_detect_reports_a_bad_photo(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a photo")
    assert main(["detect", str(bad), "--json", "--model", str(MODEL)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["photos"][0]["error"]


def test_detect_prints_a_table_and_writes_annotated_photos(tmp_path, capsys):
    import cv2

    assert main(["detect", str(SAMPLES[0]), str(SAMPLES[1]), "--model", str(MODEL), "--annotate", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    det = Detector(MODEL)
    assert out[0] == f"model {det.version}"
    assert out[1].split()[:2] == ["photo", "product"]
    for path, line in zip(SAMPLES[:2], out[3:], strict=True):
        expected = len(det.detect(path.read_bytes()))
        assert line.split()[:2] == [path.name, str(expected)]
        annotated = tmp_path / f"{path.stem}.annotated.jpg"
        assert line.rstrip().endswith(str(annotated))
        image = cv2.imread(str(annotated))
        original = cv2.imread(str(path))
        assert image is not None
        assert original is not None
        assert max(image.shape[:2]) == min(1600, max(original.shape[:2]))
