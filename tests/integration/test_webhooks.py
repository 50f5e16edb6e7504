"""Signed webhooks on real services: a webhook worker, beat and real HTTP receivers on loopback.

The retry schedule is compressed (conftest.WEBHOOK_ENV): backoff from 0.2 s, capped at
0.5 s, a 4 s window instead of a day, read timeout 2 s.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator

import pytest

from shared.webhooks import SIGNATURE_HEADER, verify_signature
from tests.conftest import MODEL, SAMPLES, WEBHOOK_ENV, auth, post_audit, problem, wait_for
from tests.farms import Farm
from tests.receiver import Receiver


@pytest.fixture(scope="module")
def webhook_farm(stack, tmp_path_factory) -> Iterator[Farm]:
    """The webhook pool (threads) and beat."""
    env = {**os.environ, **stack.env(), **WEBHOOK_ENV, "MODEL_PATH": str(MODEL), "ENV": "test"}
    farm = Farm(env, tmp_path_factory.mktemp("webhooks"),
                ["worker", "--queues", "webhooks", "--pool", "threads", "--concurrency", "8"])
    yield farm
    farm.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def register(client, key: str, url: str, events: list[str] | None = None) -> dict:
    r = client.post("/v1/webhooks", json={"url": url, "events": events or ["*"], "description": "test ERP"},
                    headers=auth(key))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def deliveries(client, key: str, hook: dict, **query) -> list[dict]:
    r = client.get(f"/v1/webhooks/{hook['id']}/deliveries", query_string=query, headers=auth(key))
    assert r.status_code == 200
    return r.get_json()["items"]


def wait_delivery(client, key: str, hook: dict, status: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = deliveries(client, key, hook)
        if items and items[0]["status"] == status:
            return items[0]
        time.sleep(0.1)
    raise AssertionError(f"no {status} delivery within {timeout} s: {deliveries(client, key, hook)}")


def test_an_audit_completed_event_arrives_signed(client, api_key, worker, webhook_farm, receiver):
    hook = register(client, api_key, receiver.url, ["audit.completed"])
    assert hook["secret"].startswith("whsec_")
    body = post_audit(client, api_key, [SAMPLES[0].read_bytes()], store="erp-store").get_json()
    audit = wait_for(client, f"/v1/audits/{body['audit_id']}", api_key)
    got = receiver.wait_for(1)[0]
    assert verify_signature(hook["secret"], got.headers[SIGNATURE_HEADER], got.body)
    assert not verify_signature("whsec_another", got.headers[SIGNATURE_HEADER], got.body)
    event = json.loads(got.body)
    assert got.headers["ShelfWatch-Event-Id"] == event["id"]
    assert got.headers["ShelfWatch-Event-Type"] == event["type"] == "audit.completed"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"].startswith("ShelfWatch-Webhooks/")
    data = event["data"]["audit"]
    assert data["id"] == audit["id"]
    assert data["status"] == "done"
    assert data["store_id"] == "erp-store"
    assert data["counts"] == audit["counts"]
    assert data["jobs"][0]["counts"] == audit["jobs"][0]["counts"]
    assert data["links"]["audit"].endswith(f"/v1/audits/{audit['id']}")
    log = wait_delivery(client, api_key, hook, "delivered")
    assert log["attempts"] == 1
    assert log["log"][0]["status_code"] == 200
    assert log["log"][0]["response"] == "answered 200"
    # the same event, pulled: an ERP that was down catches up from the feed
    feed = client.get("/v1/events", query_string={"type": "audit.completed"}, headers=auth(api_key)).get_json()
    assert feed["items"][0] == event
    metrics = client.get("/metrics").data.decode()
    assert 'shelfwatch_webhook_deliveries{status="delivered"}' in metrics
    assert "shelfwatch_webhook_oldest_pending_seconds" in metrics


def test_retried_until_a_2xx_byte_for_byte(client, api_key, webhook_farm, receiver):
    receiver.script = [(500, 0), (500, 0), (503, 0)]
    hook = register(client, api_key, receiver.url)
    ping = client.post(f"/v1/webhooks/{hook['id']}/test", headers=auth(api_key))
    assert ping.status_code == 202
    got = receiver.wait_for(4)
    assert len({r.body for r in got}) == 1  # every attempt the same bytes
    assert {r.headers["ShelfWatch-Event-Id"] for r in got} == {ping.get_json()["event_id"]}
    assert all(verify_signature(hook["secret"], r.headers[SIGNATURE_HEADER], r.body) for r in got)
    log = wait_delivery(client, api_key, hook, "delivered")
    assert log["attempts"] == 4
    assert [a["status_code"] for a in log["log"]] == [500, 500, 503, 200]
    assert got[1].at - got[0].at >= 0.0
    assert got[-1].at - got[0].at < 10


def test_a_receiver_that_never_answers_2xx_ends_dead(client, api_key, webhook_farm, receiver):
    receiver.default = (500, 0)
    hook = register(client, api_key, receiver.url)
    client.post(f"/v1/webhooks/{hook['id']}/test", headers=auth(api_key))
    dead = wait_delivery(client, api_key, hook, "dead", timeout=20)
    assert dead["attempts"] >= 3
    assert dead["last_status_code"] == 500
    assert deliveries(client, api_key, hook, status="dead")[0]["id"] == dead["id"]
    assert deliveries(client, api_key, hook, status="delivered") == []


def test_410_gone_disables_the_endpoint(client, api_key, webhook_farm, receiver):
    receiver.default = (410, 0)
    hook = register(client, api_key, receiver.url)
    client.post(f"/v1/webhooks/{hook['id']}/test", headers=auth(api_key))
    assert wait_delivery(client, api_key, hook, "dead")["attempts"] == 1
    endpoint = client.get(f"/v1/webhooks/{hook['id']}", headers=auth(api_key)).get_json()
    assert endpoint["enabled"] is False
    assert "410" in endpoint["disabled_reason"]


def test_a_slow_receiver_does_not_hold_up_another(client, api_key, webhook_farm):
    slow, fast = Receiver(default=(200, 3.0)).start(), Receiver().start()
    try:
        slow_hook, fast_hook = register(client, api_key, slow.url), register(client, api_key, fast.url)
        t0 = time.time()
        client.post(f"/v1/webhooks/{slow_hook['id']}/test", headers=auth(api_key))
        client.post(f"/v1/webhooks/{fast_hook['id']}/test", headers=auth(api_key))
        assert fast.wait_for(1, timeout=10)[0].at - t0 < 2.0  # not behind the slow one's 2 s timeout
        retried = wait_delivery(client, api_key, slow_hook, "pending", timeout=10)
        assert "Timeout" in (retried["last_error"] or "") or retried["attempts"] == 0
    finally:
        slow.stop()
        fast.stop()


def test_rotation_signs_with_both_secrets_during_the_overlap(client, api_key, webhook_farm, receiver):
    hook = register(client, api_key, receiver.url)
    rotated = client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", headers=auth(api_key)).get_json()
    assert rotated["secret"] != hook["secret"]
    assert rotated["previous_secret_until"]
    client.post(f"/v1/webhooks/{hook['id']}/test", headers=auth(api_key))
    got = receiver.wait_for(1)[0]
    header = got.headers[SIGNATURE_HEADER]
    assert header.count("v1=") == 2
    assert verify_signature(hook["secret"], header, got.body)
    assert verify_signature(rotated["secret"], header, got.body)


def test_redeliver_sends_the_same_event_again(client, api_key, webhook_farm, receiver):
    hook = register(client, api_key, receiver.url)
    event_id = client.post(f"/v1/webhooks/{hook['id']}/test", headers=auth(api_key)).get_json()["event_id"]
    first = receiver.wait_for(1)[0]
    wait_delivery(client, api_key, hook, "delivered")
    again = client.post(f"/v1/events/{event_id}/redeliver", headers=auth(api_key))
    assert again.status_code == 202
    second = receiver.wait_for(2)[1]
    assert second.body == first.body
    assert second.headers["ShelfWatch-Event-Id"] == event_id


def test_a_killed_webhook_worker_loses_nothing(client, api_key, webhook_farm, receiver):
    receiver.script = [(200, 1.5)]  # the first attempt is still in flight when the worker dies
    hook = register(client, api_key, receiver.url)
    client.post(f"/v1/webhooks/{hook['id']}/test", headers=auth(api_key))
    receiver.wait_for(1)
    webhook_farm.kill_worker()
    webhook_farm.worker = webhook_farm.start_worker()
    delivered = wait_delivery(client, api_key, hook, "delivered", timeout=30)  # after the attempt's lease ran out
    assert delivered["attempts"] >= 1
    assert len(receiver.received) >= 2  # maybe twice, never zero times
    assert len({r.headers["ShelfWatch-Event-Id"] for r in receiver.received}) == 1


def test_tenants_cannot_reach_each_others_webhooks_or_events(client, api_key, other_key, webhook_farm, receiver):
    hook = register(client, api_key, receiver.url)
    event_id = client.post(f"/v1/webhooks/{hook['id']}/test", headers=auth(api_key)).get_json()["event_id"]
    for method, path in (("GET", f"/v1/webhooks/{hook['id']}"), ("DELETE", f"/v1/webhooks/{hook['id']}"),
                         ("POST", f"/v1/webhooks/{hook['id']}/rotate-secret"),
                         ("POST", f"/v1/webhooks/{hook['id']}/test"),
                         ("GET", f"/v1/webhooks/{hook['id']}/deliveries")):
        problem(client.open(path, method=method, headers=auth(other_key)), 404, "webhook_not_found")
    problem(client.patch(f"/v1/webhooks/{hook['id']}", json={"enabled": False}, headers=auth(other_key)),
            404, "webhook_not_found")
    problem(client.post(f"/v1/events/{event_id}/redeliver", headers=auth(other_key)), 404, "event_not_found")
    assert client.get("/v1/webhooks", headers=auth(other_key)).get_json()["items"] == []
    assert event_id not in {e["id"] for e in client.get("/v1/events", headers=auth(other_key)).get_json()["items"]}


def test_endpoint_management(client, api_key, receiver):
    hook = register(client, api_key, receiver.url, ["audit.failed"])
    changed = client.patch(f"/v1/webhooks/{hook['id']}", json={"events": ["audit.completed", "audit.failed"],
                                                                "enabled": False}, headers=auth(api_key))
    assert changed.status_code == 200
    assert changed.get_json()["events"] == ["audit.completed", "audit.failed"]
    assert not changed.get_json()["enabled"]
    assert "secret" not in changed.get_json()
    listed = client.get("/v1/webhooks", headers=auth(api_key)).get_json()["items"]
    assert [h["id"] for h in listed] == [hook["id"]]
    problem(client.post("/v1/webhooks", json={"url": receiver.url, "events": ["stock.exploded"]},
                        headers=auth(api_key)), 422, "invalid_events")
    problem(client.patch(f"/v1/webhooks/{hook['id']}", data="x", headers=auth(api_key)), 415,
            "unsupported_media_type")
    problem(client.post("/v1/webhooks", data={"url": receiver.url}, headers=auth(api_key)), 415,
            "unsupported_media_type")
    problem(client.patch(f"/v1/webhooks/{hook['id']}", json={"url": "http://10.0.0.1/x"}, headers=auth(api_key)),
            422, "invalid_url")
    problem(client.get(f"/v1/webhooks/{hook['id']}/deliveries", query_string={"limit": 0}, headers=auth(api_key)),
            422, "invalid_limit")
    problem(client.get("/v1/events", query_string={"limit": 500}, headers=auth(api_key)), 422, "invalid_limit")
    problem(client.post(f"/v1/events/{uuid.uuid4()}/redeliver", headers=auth(api_key)), 404, "event_not_found")
    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=auth(api_key)).status_code == 200
    problem(client.get(f"/v1/webhooks/{hook['id']}", headers=auth(api_key)), 404, "webhook_not_found")


@pytest.mark.parametrize("url", ["http://10.0.0.1/hook", "http://169.254.169.254/latest/meta-data",
                                 "http://[::1]:8080/hook", "http://localhost:9/hook", "ftp://example.org/x",
                                 "https://user:pw@127.0.0.1/x"])
def test_ssrf_guard_refuses_private_addresses(settings, url):
    from shared.errors import Invalid
    from shared.webhooks import check_url

    strict = settings.model_copy(update={"webhook_allow_networks": ""})
    with pytest.raises(Invalid) as info:
        check_url(url, strict)
    assert info.value.code == "invalid_url"


def test_ssrf_guard_allows_public_and_allowed_networks(settings):
    from shared.errors import Invalid
    from shared.webhooks import check_url

    strict = settings.model_copy(update={"webhook_allow_networks": ""})
    assert [str(a) for a in check_url("https://93.184.216.34/hook", strict)] == ["93.184.216.34"]
    assert check_url("http://127.0.0.1:8080/hook", settings)  # the test stack allows loopback
    production = strict.model_copy(update={"env": "production"})
    with pytest.raises(Invalid):
        check_url("http://93.184.216.34/hook", production)  # https only in production


def test_a_crash_before_the_commit_leaves_neither_state_nor_event(factory, settings, tenant, api_key, monkeypatch):
    """The last job's result, the audit's status and its event are one transaction."""
    from sqlalchemy import func, select

    from shared import batches
    from shared.audits import submit_audit
    from shared.detector import Detector
    from shared.models import Audit, Event, Job
    from shared.storage import PhotoStore

    store = PhotoStore(settings)
    sub = submit_audit(factory, store, settings, tenant_id=tenant, store_id="crash", aisle=None, captured_at=None,
                       idempotency_key=None, photos=[SAMPLES[0].read_bytes()])
    real = batches.refresh_audit_status

    def crash_after_the_event(*args, **kwargs):
        changes = real(*args, **kwargs)
        if changes.statuses and any(s == "done" for s in changes.statuses.values()):
            raise RuntimeError("the worker died before its commit")
        return changes

    monkeypatch.setattr(batches, "refresh_audit_status", crash_after_the_event)
    detector = Detector(MODEL)
    with pytest.raises(RuntimeError, match="died"):
        batches.process_batch(factory, store, {"fast": detector, "accurate": detector}, [str(sub.job_ids[0])])
    with factory() as s:
        assert s.get(Audit, sub.audit_id).status == "running"  # the claim's commit, not the result's
        assert s.get(Job, sub.job_ids[0]).status == "running"
        assert s.execute(select(func.count()).select_from(Event).where(Event.tenant_id == tenant)).scalar() == 0
    monkeypatch.setattr(batches, "refresh_audit_status", real)
    with factory() as s:  # the reaper's path: the same job again finishes it, with its one event
        from sqlalchemy import update

        with s.begin():
            s.execute(update(Job).where(Job.id == sub.job_ids[0]).values(status="queued"))
    report = batches.process_batch(factory, store, {"fast": detector, "accurate": detector}, [str(sub.job_ids[0])])
    assert report.done == [str(sub.job_ids[0])]
    with factory() as s:
        assert s.get(Audit, sub.audit_id).status == "done"
        types = s.execute(select(Event.type).where(Event.tenant_id == tenant)).scalars().all()
    assert types == ["audit.completed"]
