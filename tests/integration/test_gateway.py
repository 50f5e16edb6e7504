"""The gateway's guarantees: auth, tenant isolation, validation, health and metrics.

Every response here also passes the contract check of ``tests/contract.py``.
"""

from __future__ import annotations

import io
import uuid

import cv2
import numpy as np
import pytest

from tests.conftest import SAMPLES, auth, make_app, post_audit, problem


@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer sw_000000000000_wrong", "Basic abc"])
def test_bad_api_key_is_401_with_a_challenge(client, header):
    headers = {"Authorization": header} if header else {}
    r = client.post("/v1/audits", data={"store_id": "s"}, headers=headers, content_type="multipart/form-data")
    problem(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    problem(client.get(f"/v1/jobs/{uuid.uuid4()}", headers=headers), 401, "unauthorized")


def test_other_tenants_audit_and_job_do_not_exist(client, api_key, other_key):
    body = post_audit(client, api_key, [SAMPLES[0].read_bytes()]).get_json()
    job, audit = body["job_ids"][0], body["audit_id"]
    for path, code in ((f"/v1/jobs/{job}", "job_not_found"), (f"/v1/audits/{audit}", "audit_not_found"),
                       (f"/v1/jobs/{job}/annotated.jpg", "job_not_found"),
                       (f"/v1/audits/{audit}/jobs", "audit_not_found")):
        problem(client.get(path, headers=auth(other_key)), 404, code)
    assert client.get(f"/v1/audits/{audit}", headers=auth(api_key)).status_code == 200
    listed = client.get("/v1/audits", headers=auth(other_key)).get_json()
    assert audit not in {a["id"] for a in listed["items"]}


def test_unknown_and_malformed_ids_are_404(client, api_key):
    for path, code in ((f"/v1/jobs/{uuid.uuid4()}", "job_not_found"), ("/v1/jobs/not-a-uuid", "job_not_found"),
                       (f"/v1/audits/{uuid.uuid4()}", "audit_not_found")):
        problem(client.get(path, headers=auth(api_key)), 404, code)


def test_oversize_photo_is_413(settings, spec, api_key):
    small = make_app(settings.model_copy(update={"max_photo_bytes": 50_000}), spec).test_client()
    big = SAMPLES[0].read_bytes()
    assert len(big) > 50_000
    body = problem(post_audit(small, api_key, [big]), 413, "photo_too_large")
    assert body["errors"][0]["field"] == "photos[0]"


def test_too_many_pixels_is_413(settings, spec, api_key):
    tiny = make_app(settings.model_copy(update={"max_photo_pixels": 10_000}), spec).test_client()
    problem(post_audit(tiny, api_key, [SAMPLES[0].read_bytes()]), 413, "photo_too_many_pixels")


def test_not_an_image_is_415(client, api_key):
    problem(post_audit(client, api_key, [b"%PDF-1.4 this is no photo"]), 415, "unsupported_media_type")


def test_every_bad_photo_is_listed(client, api_key):
    good = SAMPLES[0].read_bytes()
    r = post_audit(client, api_key, [good, b"%PDF-1.4", b"\xff\xd8\xff\xe0" + b"\x00" * 3, b"GIF89a"])
    body = problem(r, 415, "unsupported_media_type")
    assert {(e["field"], e["code"]) for e in body["errors"]} == {
        ("photos[1]", "unsupported_media_type"), ("photos[2]", "photo_unreadable"),
        ("photos[3]", "unsupported_media_type")}


def test_unreadable_header_is_422(client, api_key):
    problem(post_audit(client, api_key, [b"\xff\xd8\xff\xe0" + b"\x00" * 3]), 422, "photo_unreadable")


@pytest.mark.parametrize(("form", "code"), [
    ({"store_id": ""}, "invalid_store_id"),
    ({"store_id": "bad store/../x"}, "invalid_store_id"),
    ({"store_id": "s1\n"}, "invalid_store_id"),
    ({"store_id": "s1", "captured_at": "yesterday"}, "invalid_captured_at"),
    ({"store_id": "s1", "captured_at": "2026-11-20T10:00:00"}, "invalid_captured_at"),  # no offset
    ({"store_id": "s1", "captured_at": "0001-01-01T00:00:00+01:00"}, "invalid_captured_at"),
    ({"store_id": "s1", "captured_at": "9999-12-31T23:59:59-01:00"}, "invalid_captured_at"),
    ({"store_id": "s1", "mode": "turbo"}, "invalid_mode"),
    ({"store_id": "s1", "aisle": "x" * 65}, "invalid_aisle"),
])
def test_bad_fields_are_422(client, api_key, form, code):
    data = {**form, "photos": [(io.BytesIO(SAMPLES[0].read_bytes()), "a.jpg")]}
    r = client.post("/v1/audits", data=data, headers=auth(api_key), content_type="multipart/form-data")
    body = problem(r, 422, code)
    assert body["errors"][0]["code"] == code


def test_every_field_problem_is_listed_at_once(client, api_key):
    data = {"store_id": "bad store", "mode": "turbo", "captured_at": "yesterday", "aisle": "x" * 65,
            "photos": [(io.BytesIO(SAMPLES[0].read_bytes()), "a.jpg")]}
    r = client.post("/v1/audits", data=data, headers=auth(api_key), content_type="multipart/form-data")
    body = problem(r, 422, "invalid_store_id")
    assert {e["code"] for e in body["errors"]} == {"invalid_store_id", "invalid_mode", "invalid_captured_at",
                                                   "invalid_aisle"}


def test_no_photos_is_422(client, api_key):
    r = client.post("/v1/audits", data={"store_id": "s1"}, headers=auth(api_key), content_type="multipart/form-data")
    problem(r, 422, "no_photos")


def test_json_body_is_415_saying_what_is_accepted(client, api_key):
    r = client.post("/v1/audits", json={"store_id": "s1"}, headers=auth(api_key))
    body = problem(r, 415, "unsupported_media_type")
    assert "multipart/form-data" in body["detail"]


def test_wrong_method_is_405_with_allow(client, api_key):
    r = client.put("/v1/audits", headers=auth(api_key))
    problem(r, 405, "method_not_allowed")
    assert set(r.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_png_is_accepted_and_stored_as_png(client, api_key, factory):
    from shared.models import Job

    _, png = cv2.imencode(".png", np.zeros((40, 60, 3), np.uint8))
    r = post_audit(client, api_key, [png.tobytes()])
    assert r.status_code == 202
    with factory() as s:
        assert s.get(Job, uuid.UUID(r.get_json()["job_ids"][0])).photo_key.endswith(".png")


def test_health_ready_metrics(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "object_storage": "ok", "broker": "ok"}
    metrics = client.get("/metrics").data.decode()
    assert "shelfwatch_http_requests_total" in metrics


def test_readyz_reports_a_dead_dependency(settings, spec):
    broken = make_app(settings.model_copy(update={"s3_endpoint_url": "http://127.0.0.1:9"}), spec)
    r = broken.test_client().get("/readyz")
    assert r.status_code == 503
    assert r.get_json()["checks"]["object_storage"].startswith("error")


def test_mode_is_recorded_and_validated(client, api_key):
    r = post_audit(client, api_key, [SAMPLES[0].read_bytes()], mode="fast")
    assert r.status_code == 202
    job = client.get(f"/v1/jobs/{r.get_json()['job_ids'][0]}", headers=auth(api_key)).get_json()
    assert job["mode"] == "fast"
    default = post_audit(client, api_key, [SAMPLES[0].read_bytes()]).get_json()
    assert client.get(f"/v1/jobs/{default['job_ids'][0]}", headers=auth(api_key)).get_json()["mode"] == "accurate"
