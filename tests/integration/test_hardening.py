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


def test_without_a_database_every_keyed_route_answers_503_not_500(settings, spec, api_key):
    """Postgres down (here: a server that is not there): the key cannot be checked; 503 with Retry-After."""
    from tests.integration.test_contract import SCOPED, _path

    down = settings.model_copy(update={"database_url": "postgresql+psycopg2://postgres@127.0.0.1:9/gone"})
    client = make_app(down, spec).test_client()
    for method, template, _ in SCOPED:
        r = client.open(_path(template), method=method.upper(), headers={"Authorization": f"Bearer {api_key}"})
        problem(r, 503, "database_unavailable")
        assert int(r.headers["Retry-After"]) > 0
    problem(client.get("/metrics"), 503, "database_unavailable")


def test_without_object_storage_a_submit_answers_503_and_stores_nothing(settings, spec, api_key, factory, tenant):
    from sqlalchemy import func, select

    from shared.models import Audit
    from tests.conftest import SAMPLES, post_audit

    down = settings.model_copy(update={"s3_endpoint_url": "http://127.0.0.1:9"})
    client = make_app(down, spec).test_client()
    r = post_audit(client, api_key, [SAMPLES[0].read_bytes()], idem="s3-down")
    problem(r, 503, "storage_unavailable")
    assert int(r.headers["Retry-After"]) > 0
    with factory() as session:  # rolled back: the same request succeeds later, not replayed as stored
        assert session.execute(select(func.count()).select_from(Audit).where(Audit.tenant_id == tenant)).scalar() == 0
