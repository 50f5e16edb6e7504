"""Limits on everyone: per client address, per API key and kind of request, photos per tenant per day.

Each test builds a gateway of its own with small limits and a counter prefix of its own
(the counters live in the test stack's Redis, as in production).
"""

from __future__ import annotations

import uuid

import pytest

from api.limits import EXEMPT
from tests.conftest import SAMPLES, auth, make_app, post_audit, problem
from tests.integration.test_contract import _path


def limited_client(settings, spec, **limits):
    overrides = {"rate_limit_key_prefix": f"rl-{uuid.uuid4().hex[:8]}", **limits}
    return make_app(settings.model_copy(update=overrides), spec).test_client()


def retry_after(r) -> int:
    value = int(r.headers["Retry-After"])
    assert value >= 1
    return value


def test_every_route_but_the_probes_is_limited_per_address(settings, spec, api_key):
    client = limited_client(settings, spec, rate_limit_per_ip="1 per minute")
    assert client.get("/v1/openapi.json").status_code == 200  # the address's one request this minute
    operations = [(m, p) for p, item in spec["paths"].items() for m in item if p not in EXEMPT]
    for method, template in operations:
        r = client.open(_path(template), method=method.upper(), headers=auth(api_key))
        body = problem(r, 429, "rate_limited")
        assert "address" in body["detail"]
        assert retry_after(r) <= 61
    for path in EXEMPT:  # probes and scrapers are never refused
        assert client.get(path).status_code in (200, 503)


def test_each_key_has_its_own_limits_and_polling_never_eats_into_submits(settings, spec, factory, worker):
    from tests.conftest import new_key

    client = limited_client(settings, spec, rate_limit_read="2 per minute", rate_limit_submit="1 per minute")
    key, other = new_key(factory, f"t-{uuid.uuid4().hex[:8]}"), new_key(factory, f"t-{uuid.uuid4().hex[:8]}")
    for _ in range(2):
        assert client.get("/v1/audits", headers=auth(key)).status_code == 200
    polled = client.get("/v1/audits", headers=auth(key))
    assert "read requests" in problem(polled, 429, "rate_limited")["detail"]
    assert retry_after(polled) <= 61
    assert post_audit(client, key, [SAMPLES[0].read_bytes()]).status_code == 202  # submits count apart
    problem(post_audit(client, key, [SAMPLES[0].read_bytes()]), 429, "rate_limited")
    assert client.get("/v1/audits", headers=auth(other)).status_code == 200  # another key is not slowed


def test_a_tenant_daily_photo_quota(settings, spec, api_key, worker):
    client = limited_client(settings, spec, quota_photos_per_day=3)
    photos = [SAMPLES[0].read_bytes(), SAMPLES[1].read_bytes()]
    first = post_audit(client, api_key, photos, idem="quota-1")
    assert first.status_code == 202
    over = post_audit(client, api_key, photos)
    body = problem(over, 429, "quota_exceeded")
    assert "2 of today's 3 photos" in body["detail"]
    assert 1 <= retry_after(over) <= 86_401  # until midnight UTC
    assert post_audit(client, api_key, photos[:1]).status_code == 202  # what fits still goes in
    replay = post_audit(client, api_key, photos, idem="quota-1")  # a replay stores nothing: not counted
    assert replay.status_code == 200
    assert replay.get_json()["audit_id"] == first.get_json()["audit_id"]


@pytest.mark.parametrize("limit", ["5 per fortnight", "lots"])
def test_a_malformed_limit_is_refused_at_start(settings, limit):
    from shared.settings import Settings

    with pytest.raises(ValueError, match="not a rate limit"):
        Settings.model_validate({**settings.model_dump(), "rate_limit_read": limit})
