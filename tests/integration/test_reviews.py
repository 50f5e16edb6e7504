"""What the web pages read and write through the public API: recent jobs, photos, models,
reviews, the labels export, and a section's status judged again when its levels change."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from tests.conftest import SAMPLES, auth, post_audit, problem, wait_for
from tests.paths import ROOT


def done_job(client, key: str, store: str = "store-r", aisle: str | None = None) -> dict:
    extra = {"aisle": aisle} if aisle else {}
    audit = post_audit(client, key, [SAMPLES[1].read_bytes()], store=store, **extra).get_json()
    wait_for(client, f"/v1/audits/{audit['audit_id']}", key)
    return client.get(f"/v1/jobs/{audit['job_ids'][0]}", headers=auth(key)).get_json()


def test_recent_jobs_photo_and_models(client, api_key, other_key, worker):
    job = done_job(client, api_key, store="store-recent")
    listed = client.get("/v1/jobs", query_string={"limit": 5}, headers=auth(api_key)).get_json()
    assert listed["items"][0]["id"] == job["id"]
    assert listed["items"][0]["store_id"] == "store-recent"
    assert listed["items"][0]["detection_count"] == job["detection_count"]
    assert client.get("/v1/jobs", query_string={"store_id": "elsewhere"}, headers=auth(api_key)).get_json()["items"] \
        == []
    assert client.get("/v1/jobs", headers=auth(other_key)).get_json()["items"] == []  # tenants never mix

    full = client.get(f"/v1/jobs/{job['id']}/photo", headers=auth(api_key))
    assert full.status_code == 200
    assert full.mimetype == "image/jpeg"
    img = cv2.imdecode(np.frombuffer(full.data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    # upright, and the boxes scale by width / photo.width on both axes
    assert abs(img.shape[1] / job["photo"]["width"] - img.shape[0] / job["photo"]["height"]) < 0.01
    thumb = client.get(f"/v1/jobs/{job['id']}/photo", query_string={"max_side": 120}, headers=auth(api_key))
    small = cv2.imdecode(np.frombuffer(thumb.data, np.uint8), cv2.IMREAD_COLOR)
    assert small is not None
    assert max(small.shape[:2]) <= 120
    assert len(thumb.data) < len(full.data)
    problem(client.get(f"/v1/jobs/{job['id']}/photo", query_string={"max_side": 5}, headers=auth(api_key)),
            422, "invalid_max_side")
    problem(client.get(f"/v1/jobs/{job['id']}/photo", headers=auth(other_key)), 404, "job_not_found")

    models = client.get("/v1/models", headers=auth(api_key)).get_json()
    serving = models["modes"]["accurate"]["version"]
    assert serving == job["model_version"]
    first = models["items"][0]
    assert first["version"] == serving
    assert "accurate" in first["serving"]
    assert 0 < first["metrics"]["map50"] <= 1
    size = models["modes"]["accurate"]["input_size"] or first["input_size"]  # the threshold served at that size
    assert models["modes"]["accurate"]["conf_threshold"] == (first["conf_thresholds"] or {}).get(
        str(size), first["conf_threshold"])


def test_review_saves_revisions_and_counts_what_changed(client, api_key, other_key, worker):
    job = done_job(client, api_key)
    boxes = [d["box"] for d in job["detections"]]
    assert len(boxes) >= 3
    moved = [boxes[1][0] + 8, boxes[1][1], boxes[1][2] + 8, boxes[1][3]]  # shifted: still the same facing
    w = job["photo"]["width"]
    corrected = [{"box": b} for b in boxes[2:]] + [{"box": moved}, {"class": "product", "box": [1, 1, 30, 30]}]
    r = client.put(f"/v1/jobs/{job['id']}/review", json={"boxes": corrected}, headers=auth(api_key))
    assert r.status_code == 200, r.get_json()
    first = r.get_json()
    assert first["revision"] == 1
    assert first["model_version"] == job["model_version"]
    assert first["changes"] == {"kept": len(boxes) - 2, "moved": 1, "added": 1, "removed": 1}
    assert len(first["boxes"]) == len(boxes)
    again = client.put(f"/v1/jobs/{job['id']}/review", json={"boxes": []}, headers=auth(api_key)).get_json()
    assert again["revision"] == 2
    assert again["changes"]["removed"] == len(boxes)
    newest = client.get(f"/v1/jobs/{job['id']}/review", headers=auth(api_key)).get_json()
    assert newest["revision"] == 2
    assert newest["boxes"] == []

    bad = client.put(f"/v1/jobs/{job['id']}/review", headers=auth(api_key), json={
        "boxes": [{"box": [0, 0, w + 50, 10]}, {"box": [5, 5, 5, 9]}, {"class": "cat", "box": [1, 1, 9, 9]}]})
    body = problem(bad, 422, "invalid_box")
    assert {e["field"] for e in body["errors"]} == {"boxes[0].box", "boxes[1].box", "boxes[2].class"}
    problem(client.put(f"/v1/jobs/{job['id']}/review", json={"boxes": []}, headers=auth(other_key)),
            404, "job_not_found")
    other_job = done_job(client, api_key)
    problem(client.get(f"/v1/jobs/{other_job['id']}/review", headers=auth(api_key)), 404, "review_not_found")


def test_labels_export_writes_a_yolo_dataset_of_the_newest_reviews(client, api_key, tenant, worker, cli_env,
                                                                   tmp_path, capsys):
    from ops.cli import main

    since = datetime.now(UTC) - timedelta(seconds=1)
    jobs = [done_job(client, api_key) for _ in range(2)]
    keep = [d["box"] for d in jobs[0]["detections"]][:5]
    client.put(f"/v1/jobs/{jobs[0]['id']}/review", json={"boxes": [{"box": b} for b in keep + keep[:1]]},
               headers=auth(api_key))
    client.put(f"/v1/jobs/{jobs[0]['id']}/review", json={"boxes": [{"box": b} for b in keep]}, headers=auth(api_key))
    client.put(f"/v1/jobs/{jobs[1]['id']}/review", json={"boxes": []}, headers=auth(api_key))

    out = tmp_path / "labels"
    assert main(["labels", "export", "--since", since.isoformat(), "--tenant", tenant, str(out)]) == 0
    assert "2 photos" in capsys.readouterr().out
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == ["product"]
    assert data["path"] == str(out.resolve())
    labels = {p.stem: p.read_text().splitlines() for p in out.glob("labels/*/*.txt")}
    assert len(labels[jobs[0]["id"]]) == 5  # the newest revision, not the first
    assert labels[jobs[1]["id"]] == []  # a photo a person says holds nothing
    w, h = jobs[0]["photo"]["width"], jobs[0]["photo"]["height"]
    cls, cx, cy, bw, bh = (float(v) for v in labels[jobs[0]["id"]][0].split())
    x1, y1, x2, y2 = keep[0]
    assert cls == 0
    assert abs(cx * w - (x1 + x2) / 2) < 0.01
    assert abs(bw * w - (x2 - x1)) < 0.01
    assert abs(cy * h - (y1 + y2) / 2) < 0.01
    assert abs(bh * h - (y2 - y1)) < 0.01
    images = list(out.glob("images/val/*")) + list(out.glob("images/train/*"))
    assert {p.stem for p in images} >= {j["id"] for j in jobs}
    assert list(out.glob("images/val/*")), "Ultralytics needs a val set"
    # what `make train DATA=DIR` does with it: Ultralytics' own dataset check and label loader
    trained_on = ultralytics_reads(out, tmp_path / "work")
    assert trained_on["nc"] == 1
    assert trained_on["boxes"] == {split: sum(len(labels[p.stem]) for p in out.glob(f"labels/{split}/*.txt"))
                                   for split in ("train", "val")}
    assert main(["labels", "export", "--since", datetime.now(UTC).isoformat(), "--tenant", tenant,
                 str(tmp_path / "none")]) == 1


def ultralytics_reads(dataset: Path, workdir: Path) -> dict:
    """The dataset as Ultralytics' trainer reads it (offline, in a process of its own)."""
    script = (
        "import json, sys; from pathlib import Path; from training import offline\n"
        "offline.configure(Path(sys.argv[2]))\n"
        "from ultralytics.data import YOLODataset; from ultralytics.data.utils import check_det_dataset\n"
        "d = check_det_dataset(sys.argv[1]); boxes = {}\n"
        "for split in ('train', 'val'):\n"
        "    ds = YOLODataset(img_path=d[split], data=d, augment=False)\n"
        "    boxes[split] = sum(len(lb['cls']) for lb in ds.labels)\n"
        "print(json.dumps({'nc': d['nc'], 'boxes': boxes}))\n")
    r = subprocess.run([sys.executable, "-c", script, str(dataset / "data.yaml"), str(workdir)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_changing_levels_judges_the_section_again_at_once(client, api_key, worker):
    store = f"st-{uuid.uuid4().hex[:6]}"
    client.post("/v1/stores", json={"id": store}, headers=auth(api_key))
    section = client.post(f"/v1/stores/{store}/sections", json={"aisle": "3", "critical": 1, "target": 2},
                          headers=auth(api_key)).get_json()
    url = f"/v1/stores/{store}/sections/{section['id']}"
    audit = post_audit(client, api_key, [SAMPLES[0].read_bytes()], store=store, aisle="3").get_json()
    facings = wait_for(client, f"/v1/audits/{audit['audit_id']}", api_key)["facings"]
    assert client.get(f"/v1/stores/{store}/sections", headers=auth(api_key)).get_json()["items"][0]["status"] == "ok"
    raised = client.patch(url, json={"critical": facings + 10, "target": facings + 20}, headers=auth(api_key))
    assert raised.get_json()["status"] == "critical"
    lows = client.get("/v1/events", query_string={"type": "stock.low"}, headers=auth(api_key)).get_json()["items"]
    assert [e["data"]["audit_id"] for e in lows] == [audit["audit_id"]]
    assert client.patch(url, json={"critical": 1, "target": facings + 1}, headers=auth(api_key)).get_json()[
        "status"] == "low"
    kinds = [a["kind"] for a in client.get(f"/v1/stores/{store}/activity", headers=auth(api_key)).get_json()["items"]]
    assert kinds[:4] == ["alert_cleared", "levels_changed", "alert_raised", "levels_changed"]


def test_review_and_recent_jobs_errors(client, api_key, tenant, factory, settings):
    from shared.audits import submit_audit
    from shared.storage import PhotoStore

    # a job that is still queued (made by the domain, never enqueued): nothing to review yet
    sub = submit_audit(factory, PhotoStore(settings), settings, tenant_id=tenant, store_id="store-q", aisle=None,
                       captured_at=None, idempotency_key=None, photos=[SAMPLES[0].read_bytes()], mode=None,
                       request_id=None)
    queued = str(sub.job_ids[0])
    problem(client.put(f"/v1/jobs/{queued}/review", json={"boxes": []}, headers=auth(api_key)), 409, "job_not_done")
    problem(client.put(f"/v1/jobs/{queued}/review", data="boxes", content_type="text/plain", headers=auth(api_key)),
            415, "unsupported_media_type")
    problem(client.get("/v1/jobs", query_string={"limit": 0}, headers=auth(api_key)), 422, "invalid_limit")
    listed = client.get("/v1/jobs", query_string={"status": "queued"}, headers=auth(api_key)).get_json()["items"]
    assert [j["id"] for j in listed] == [queued]


def test_the_models_own_boxes_saved_back_unchanged_are_accepted(client, api_key, worker):
    """A sliver of a box at the photo's edge (the detector keeps them from half a pixel) included."""
    job = done_job(client, api_key)
    boxes = [{"box": d["box"]} for d in job["detections"]] + [{"box": [0.0, 4.6, 0.6, 84.8]}]
    r = client.put(f"/v1/jobs/{job['id']}/review", json={"boxes": boxes}, headers=auth(api_key))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["changes"]["kept"] == len(job["detections"])


@pytest.mark.parametrize("val_percent", [0, 100])
def test_an_export_whose_photos_all_hash_to_one_split_still_has_both(client, api_key, tenant, worker, factory,
                                                                    settings, tmp_path, val_percent):
    """Two photos both land in val (or train) 4 % of the time: Ultralytics needs both splits anyway."""
    from shared.reviews import export_dataset
    from shared.storage import PhotoStore

    since = datetime.now(UTC) - timedelta(seconds=1)
    job = done_job(client, api_key)
    client.put(f"/v1/jobs/{job['id']}/review", json={"boxes": [{"box": job["detections"][0]["box"]}]},
               headers=auth(api_key))
    with factory() as session:
        manifest = export_dataset(session, PhotoStore(settings), tmp_path, since, tenant_id=tenant,
                                  val_percent=val_percent)
    assert (manifest["train_photos"], manifest["val_photos"]) == (1, 1)
    for split in ("train", "val"):
        assert [p.stem for p in (tmp_path / "images" / split).iterdir()] == [job["id"]]
        assert (tmp_path / "labels" / split / f"{job['id']}.txt").read_text().count("\n") == 1
