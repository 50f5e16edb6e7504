"""The gateway's guarantees: auth, tenant isolation, validation, health and metrics."""

from __future__ import annotations

import io
import uuid

import cv2
import numpy as np
import pytest

from api.app import create_app
from tests.conftest import SAMPLES
from tests.integration.test_farm import auth, post_audit


def error_code(r) -> str:
    body = r.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return body["error"]["code"]


@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer sw_000000000000_wrong", "Basic abc"])
def test_bad_api_key_is_401(client, header):
    headers = {"Authorization": header} if header else {}
    r = client.post("/v1/audits", data={"store_id": "s"}, headers=headers)
    assert r.status_code == 401 and error_code(r) == "unauthorized"
    assert client.get(f"/v1/jobs/{uuid.uuid4()}", headers=headers).status_code == 401


def test_other_tenants_job_is_404(client, api_key, other_key):
    r = post_audit(client, api_key, [SAMPLES[0].read_bytes()])
    body = r.get_json()
    for path in (f"/v1/jobs/{body['job_ids'][0]}", f"/v1/audits/{body['audit_id']}",
                 f"/v1/jobs/{body['job_ids'][0]}/annotated.jpg"):
        assert client.get(path, headers=auth(api_key)).status_code in (200, 409)
        other = client.get(path, headers=auth(other_key))
        assert other.status_code == 404, path
        assert error_code(other) in ("job_not_found", "audit_not_found")


def test_unknown_and_malformed_ids_are_404(client, api_key):
    for path in (f"/v1/jobs/{uuid.uuid4()}", "/v1/jobs/not-a-uuid", f"/v1/audits/{uuid.uuid4()}"):
        r = client.get(path, headers=auth(api_key))
        assert r.status_code == 404 and error_code(r).endswith("_not_found")


def test_oversize_photo_is_413(settings, api_key):
    small = create_app(settings.model_copy(update={"max_photo_bytes": 50_000})).test_client()
    big = SAMPLES[0].read_bytes()
    assert len(big) > 50_000
    r = post_audit(small, api_key, [big])
    assert r.status_code == 413 and error_code(r) == "photo_too_large"


def test_too_many_pixels_is_413(settings, api_key):
    tiny = create_app(settings.model_copy(update={"max_photo_pixels": 10_000})).test_client()
    r = post_audit(tiny, api_key, [SAMPLES[0].read_bytes()])
    assert r.status_code == 413 and error_code(r) == "photo_too_many_pixels"


def test_not_an_image_is_415(client, api_key):
    r = post_audit(client, api_key, [b"%PDF-1.4 this is no photo"])
    assert r.status_code == 415 and error_code(r) == "unsupported_media_type"


def test_unreadable_header_is_422(client, api_key):
    r = post_audit(client, api_key, [b"\xff\xd8\xff\xe0" + b"\x00" * 3])
    assert r.status_code == 422 and error_code(r) == "photo_unreadable"


@pytest.mark.parametrize("form,code", [
    ({"store_id": ""}, "invalid_store_id"),
    ({"store_id": "bad store/../x"}, "invalid_store_id"),
    ({"store_id": "s1", "captured_at": "yesterday"}, "invalid_captured_at"),
])
def test_bad_fields_are_422(client, api_key, form, code):
    data = {**form, "photos": [(io.BytesIO(SAMPLES[0].read_bytes()), "a.jpg")]}
    r = client.post("/v1/audits", data=data, headers=auth(api_key), content_type="multipart/form-data")
    assert r.status_code == 422 and error_code(r) == code


def test_no_photos_is_422(client, api_key):
    r = client.post("/v1/audits", data={"store_id": "s1"}, headers=auth(api_key))
    assert r.status_code == 422 and error_code(r) == "no_photos"


def test_png_is_accepted(client, api_key):
    ok, png = cv2.imencode(".png", np.zeros((40, 60, 3), np.uint8))
    r = post_audit(client, api_key, [png.tobytes()])
    assert r.status_code == 202


def test_health_ready_metrics(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "object_storage": "ok", "broker": "ok"}
    metrics = client.get("/metrics").data.decode()
    assert "shelfwatch_http_requests_total" in metrics


def test_readyz_reports_a_dead_dependency(settings):
    broken = create_app(settings.model_copy(update={"s3_endpoint_url": "http://127.0.0.1:9"}))
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
    bad = post_audit(client, api_key, [SAMPLES[0].read_bytes()], mode="turbo")
    assert bad.status_code == 422 and error_code(bad) == "invalid_mode"
