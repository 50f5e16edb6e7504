"""What the gateway refuses before a route runs, and what it keeps for operators."""

from __future__ import annotations

import requests

from tests.conftest import make_app, problem


def test_gunicorn_refusals_come_in_the_api_error_shape(gateway):
    long_path = requests.get(f"{gateway}/v1/{'a' * 5000}", timeout=10)
    assert long_path.status_code == 414
    assert long_path.headers["Content-Type"] == "application/problem+json"
    assert long_path.json()["code"] == "uri_too_long"
    big_header = requests.get(f"{gateway}/healthz", headers={"X-Big": "a" * 9000}, timeout=10)
    assert big_header.status_code == 431
    assert big_header.json()["code"] == "headers_too_large"
    assert requests.get(f"{gateway}/v1/{'a' * 3000}", timeout=10).json()["code"] == "not_found"  # the app's own


def test_metrics_and_readiness_details_need_the_metrics_token(settings, spec):
    client = make_app(settings.model_copy(update={"metrics_token": "s3cret-token"}), spec).test_client()
    problem(client.get("/metrics"), 401, "unauthorized")
    problem(client.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
    scraped = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert scraped.status_code == 200
    assert b"shelfwatch_queue_jobs" in scraped.data
    probe = client.get("/readyz")  # a kubelet's probe: the status, not what is down or why
    assert probe.get_json() == {"status": "ok"}
    operator = client.get("/readyz", headers={"Authorization": "Bearer s3cret-token"}).get_json()
    assert operator["checks"] == {"database": "ok", "object_storage": "ok", "broker": "ok"}
