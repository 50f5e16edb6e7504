"""Shelf analytics through the farm: stored with the result, in the views and the event, drawn."""

from __future__ import annotations

import cv2
import numpy as np

from tests.conftest import SAMPLES, auth, post_audit, wait_for


def decoded(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_an_audit_gets_rows_groups_and_gaps(client, api_key, worker):
    body = post_audit(client, api_key, [SAMPLES[3].read_bytes()], store="analytics").get_json()
    job = wait_for(client, f"/v1/jobs/{body['job_ids'][0]}", api_key)
    a = job["analytics"]
    assert len(a["rows"]) >= 2
    assert sum(r["facings"] for r in a["rows"]) == job["detection_count"] == a["facings"]
    assert sum(g["facings"] for g in a["groups"]) == job["detection_count"]
    assert {d["row"] for d in job["detections"]} == set(range(len(a["rows"])))
    assert all(0 <= d["group"] < len(a["groups"]) for d in job["detections"])
    audit = client.get(f"/v1/audits/{body['audit_id']}", headers=auth(api_key)).get_json()
    assert audit["jobs"][0]["analytics_summary"]["rows"] == len(a["rows"])
    assert audit["jobs"][0]["analytics_summary"]["missing_facings"] == a["missing_facings"]


def test_a_blacked_out_span_becomes_a_gap_drawn_in_red(client, api_key, worker):
    photo = SAMPLES[3].read_bytes()
    first = wait_for(client, f"/v1/jobs/{post_audit(client, api_key, [photo]).get_json()['job_ids'][0]}", api_key)
    fullest = max(first["analytics"]["rows"], key=lambda r: r["facings"])
    row = sorted((d["box"] for d in first["detections"] if d["row"] == fullest["index"]), key=lambda b: b[0])
    assert len(row) >= 8
    x1, x2 = row[3][0], row[6][2]  # four facings in the middle of the fullest row
    y1, y2 = min(b[1] for b in row[3:7]), max(b[3] for b in row[3:7])
    image = decoded(photo)
    image[int(y1):int(y2), int(x1):int(x2)] = 20  # the back of an empty shelf
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    body = post_audit(client, api_key, [buf.tobytes()], store="gap").get_json()
    job = wait_for(client, f"/v1/jobs/{body['job_ids'][0]}", api_key)
    found = [g for g in job["analytics"]["gaps"]
             if min(g["box"][2], x2) - max(g["box"][0], x1) > 0.5 * (x2 - x1)]
    assert found, job["analytics"]["gaps"]
    assert found[0]["missing"] >= 3
    picture = client.get(f"/v1/jobs/{job['id']}/annotated.jpg", headers=auth(api_key))
    assert picture.status_code == 200
    drawn = decoded(picture.data)
    scale = drawn.shape[1] / image.shape[1]
    gx1, gy1 = int(found[0]["box"][0] * scale), int(found[0]["box"][1] * scale)
    edge = drawn[gy1:gy1 + 3, gx1 + 5:gx1 + 40].reshape(-1, 3).mean(0)  # its top edge, in red (BGR)
    assert edge[2] > 150
    assert edge[0] < 120
