"""API v1 as a contract: the spec itself, scopes, keys, lists, polling hints, query counts."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, insert
from sqlalchemy.engine import Engine

from tests.conftest import SAMPLES, auth, make_app, new_key, post_audit, problem
from tests.paths import ROOT

SCOPED = [  # (method, path template) of every route that needs a key, with the scope it needs
    ("post", "/v1/audits", "submit"), ("get", "/v1/audits", "read"), ("get", "/v1/audits/{audit_id}", "read"),
    ("get", "/v1/audits/{audit_id}/jobs", "read"), ("get", "/v1/jobs/{job_id}", "read"),
    ("get", "/v1/jobs/{job_id}/annotated.jpg", "read"), ("post", "/v1/keys", "admin"),
    ("get", "/v1/keys", "admin"), ("delete", "/v1/keys/{prefix}", "admin"),
    ("post", "/v1/webhooks", "admin"), ("get", "/v1/webhooks", "admin"), ("get", "/v1/webhooks/{webhook_id}", "admin"),
    ("patch", "/v1/webhooks/{webhook_id}", "admin"), ("delete", "/v1/webhooks/{webhook_id}", "admin"),
    ("post", "/v1/webhooks/{webhook_id}/rotate-secret", "admin"), ("post", "/v1/webhooks/{webhook_id}/test", "admin"),
    ("get", "/v1/webhooks/{webhook_id}/deliveries", "admin"), ("get", "/v1/events", "read"),
    ("post", "/v1/events/{event_id}/redeliver", "admin"),
    ("post", "/v1/rescans", "admin"), ("get", "/v1/rescans", "admin"), ("get", "/v1/rescans/{rescan_id}", "admin"),
    ("post", "/v1/rescans/{rescan_id}/{action}", "admin"), ("get", "/v1/rescans/{rescan_id}/diff", "admin"),
    ("post", "/v1/stores", "admin"), ("get", "/v1/stores", "read"), ("post", "/v1/stores/{store_id}/sections", "admin"),
    ("get", "/v1/stores/{store_id}/sections", "read"),
    ("patch", "/v1/stores/{store_id}/sections/{section_id}", "admin"),
    ("get", "/v1/stores/{store_id}/stock", "read"), ("get", "/v1/stores/{store_id}/activity", "read"),
    ("put", "/v1/stores/{store_id}/sections/{section_id}/planogram", "admin"),
    ("get", "/v1/jobs", "read"), ("get", "/v1/jobs/{job_id}/photo", "read"), ("get", "/v1/models", "read"),
    ("put", "/v1/jobs/{job_id}/review", "submit"), ("get", "/v1/jobs/{job_id}/review", "read"),
    ("post", "/v1/uploads", "submit"), ("post", "/v1/audits/{audit_id}/confirm", "submit"),
]


def test_served_spec_is_valid_and_equals_the_committed_one(client, spec):
    from openapi_spec_validator import validate

    served = client.get("/v1/openapi.json").get_json()
    validate(served)
    assert served["openapi"].startswith("3.1")
    assert served == spec, "docs/openapi.json is stale: run `make openapi`"


def test_every_scoped_route_in_the_spec_is_listed_here(spec):
    secured = {(m, p, op["security"][0]["bearer"][0]) for p, item in spec["paths"].items()
               for m, op in item.items() if op.get("security")}
    assert secured == set(SCOPED)


def test_docs_page_uses_only_local_assets(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.data.decode()
    assert "/v1/openapi.json" in html
    srcs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert srcs
    assert all(s.startswith("/docs/assets/") for s in srcs), srcs
    for src in srcs:
        asset = client.get(src)
        assert asset.status_code == 200, src
        assert len(asset.data) > 1000, src


def _path(template: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "abc123" if m.group(0) == "{prefix}" else str(uuid.uuid4()), template)


@pytest.mark.parametrize(("method", "template", "scope"), SCOPED)
def test_a_key_without_the_scope_gets_403(client, factory, tenant, method, template, scope):
    others = tuple(s for s in ("submit", "read", "admin") if s != scope)
    key = new_key(factory, tenant, others)
    r = client.open(_path(template), method=method.upper(), headers=auth(key))
    body = problem(r, 403, "insufficient_scope")
    assert scope in body["detail"]
    problem(client.open(_path(template), method=method.upper()), 401, "unauthorized")


def test_keys_created_listed_and_revoked_over_the_api(client, api_key):
    made = client.post("/v1/keys", json={"scopes": ["read"], "name": "dashboard", "expires_in_days": 30},
                       headers=auth(api_key))
    assert made.status_code == 201
    key = made.get_json()
    assert key["scopes"] == ["read"]
    assert key["key"].startswith(f"sw_{key['prefix']}_")
    assert key["expires_at"]
    assert client.get("/v1/audits", headers=auth(key["key"])).status_code == 200
    problem(post_audit(client, key["key"], [SAMPLES[0].read_bytes()]), 403, "insufficient_scope")
    listed = client.get("/v1/keys", headers=auth(api_key)).get_json()["items"]
    mine = next(k for k in listed if k["prefix"] == key["prefix"])
    assert "key" not in mine
    assert mine["last_used_at"] is not None
    assert mine["revoked_at"] is None
    revoked = client.delete(f"/v1/keys/{key['prefix']}", headers=auth(api_key))
    assert revoked.status_code == 200
    assert revoked.get_json()["revoked_at"]
    # refused from the very next request on
    problem(client.get("/v1/audits", headers=auth(key["key"])), 401, "unauthorized")
    problem(client.delete("/v1/keys/000000000000", headers=auth(api_key)), 404, "key_not_found")


def test_keys_of_another_tenant_cannot_be_seen_or_revoked(client, api_key, other_key):
    theirs = client.get("/v1/keys", headers=auth(other_key)).get_json()["items"]
    assert len(theirs) == 1
    problem(client.delete(f"/v1/keys/{theirs[0]['prefix']}", headers=auth(api_key)), 404, "key_not_found")


def test_bad_key_requests_are_refused(client, api_key):
    body = problem(client.post("/v1/keys", json={"scopes": ["root"], "bogus": 1}, headers=auth(api_key)),
                   422, "invalid_scopes")
    assert {e["field"] for e in body["errors"]} == {"scopes[0]", "bogus"}
    problem(client.post("/v1/keys", data={"scopes": "read"}, headers=auth(api_key)), 415, "unsupported_media_type")


def test_an_expired_key_is_refused(client, factory, tenant):
    from sqlalchemy import update

    from shared.db import transaction
    from shared.models import ApiKey

    key = new_key(factory, tenant)
    with transaction(factory) as s:
        s.execute(update(ApiKey).where(ApiKey.tenant_id == tenant)
                  .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    problem(client.get("/v1/audits", headers=auth(key)), 401, "unauthorized")


def _insert_audits(factory, tenant: str, n: int, store: str = "s1") -> None:
    from shared.db import transaction
    from shared.models import Audit

    with transaction(factory) as s:
        s.execute(insert(Audit), [{"id": uuid.uuid4(), "tenant_id": tenant, "store_id": store,
                                   "request_hash": "x", "status": "done"} for _ in range(n)])


def test_pagination_walks_every_audit_once_while_new_ones_arrive(client, api_key, tenant, factory):
    _insert_audits(factory, tenant, 450)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        r = client.get("/v1/audits", query_string={"limit": 200, **({"cursor": cursor} if cursor else {})},
                       headers=auth(api_key))
        page = r.get_json()
        seen += [a["id"] for a in page["items"]]
        pages += 1
        _insert_audits(factory, tenant, 7)  # new audits arrive between pages: they must not shift them
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == 450
    assert len(set(seen)) == 450
    created = [a["created_at"] for a in client.get("/v1/audits", query_string={"limit": 200},
                                                    headers=auth(api_key)).get_json()["items"]]
    assert created == sorted(created, reverse=True)


def test_list_filters_and_limits(client, api_key, tenant, factory):
    _insert_audits(factory, tenant, 3, store="north")
    _insert_audits(factory, tenant, 2, store="south")
    north = client.get("/v1/audits", query_string={"store_id": "north"}, headers=auth(api_key)).get_json()
    assert len(north["items"]) == 3
    assert {a["store_id"] for a in north["items"]} == {"north"}
    none = client.get("/v1/audits", query_string={"status": "failed"}, headers=auth(api_key)).get_json()
    assert none["items"] == []
    assert none["next_cursor"] is None
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert client.get("/v1/audits", query_string={"since": future}, headers=auth(api_key)).get_json()["items"] == []
    r = client.get("/v1/audits", query_string={"limit": 201, "status": "lost"}, headers=auth(api_key))
    body = problem(r, 422, r.get_json()["errors"][0]["code"])
    assert {e["code"] for e in body["errors"]} == {"invalid_limit", "invalid_status"}
    problem(client.get("/v1/audits", query_string={"cursor": "not-a-cursor"}, headers=auth(api_key)),
            422, "invalid_cursor")


def test_polling_hints_while_not_finished(client, api_key):
    """No worker runs in this test: the audit stays queued."""
    r = post_audit(client, api_key, [SAMPLES[0].read_bytes()], store="no-worker")
    assert r.status_code == 202
    assert int(r.headers["Retry-After"]) >= 1
    body = r.get_json()
    audit = client.get(body["url"], headers=auth(api_key))
    assert audit.get_json()["status"] == "queued"
    assert int(audit.headers["Retry-After"]) >= 1
    assert audit.get_json()["progress"] == {"total": 1, "done": 0, "failed": 0, "pending": 1}
    job = client.get(body["jobs"][0]["url"], headers=auth(api_key))
    assert int(job.headers["Retry-After"]) >= 1
    conflict = client.get(f"{body['jobs'][0]['url']}/annotated.jpg", headers=auth(api_key))
    problem(conflict, 409, "job_not_done")
    assert int(conflict.headers["Retry-After"]) >= 1
    jobs = client.get(f"{body['url']}/jobs", headers=auth(api_key)).get_json()["items"]
    assert [j["id"] for j in jobs] == body["job_ids"]


def test_broker_down_at_submit_is_503_and_a_replay_enqueues(settings, spec, client, api_key, factory):
    from shared.models import Job

    dead = make_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:9/0"}), spec).test_client()
    key = f"idem-{uuid.uuid4()}"
    r = post_audit(dead, api_key, [SAMPLES[1].read_bytes()], idem=key)
    problem(r, 503, "broker_unavailable")
    assert int(r.headers["Retry-After"]) >= 1
    again = post_audit(client, api_key, [SAMPLES[1].read_bytes()], idem=key)
    assert again.status_code == 200
    assert again.get_json()["replayed"] is True
    with factory() as s:
        assert s.get(Job, uuid.UUID(again.get_json()["job_ids"][0])).status == "queued"


def test_an_audit_view_costs_the_same_queries_for_1_or_20_jobs(client, api_key, tenant, factory):
    from shared.db import transaction
    from shared.models import Audit, Job, Result

    def make(n: int) -> str:
        audit_id = uuid.uuid4()
        with transaction(factory) as s:
            s.execute(insert(Audit).values(id=audit_id, tenant_id=tenant, store_id="s", request_hash="x",
                                           status="done"))
            jobs = [{"id": uuid.uuid4(), "tenant_id": tenant, "audit_id": audit_id, "position": i,
                     "photo_key": "k", "photo_sha256": "0" * 64, "photo_bytes": 1, "width": 1, "height": 1,
                     "status": "done", "model_version": "m1"} for i in range(n)]
            s.execute(insert(Job), jobs)
            s.execute(insert(Result), [{"tenant_id": tenant, "job_id": j["id"], "model_version": "m1",
                                        "counts": {"product": 3}, "detection_count": 3, "timings_ms": {},
                                        "batch_id": "b", "batch_size": n} for j in jobs])
        return str(audit_id)

    def statements(audit_id: str) -> int:
        count = 0

        def seen(*_: object) -> None:
            nonlocal count
            count += 1

        event.listen(Engine, "before_cursor_execute", seen)
        try:
            r = client.get(f"/v1/audits/{audit_id}", headers=auth(api_key))
        finally:
            event.remove(Engine, "before_cursor_execute", seen)
        assert r.status_code == 200
        assert len(r.get_json()["jobs"]) in (1, 20)
        return count

    one, twenty = make(1), make(20)
    statements(one)  # warm: the key's last use is written at most once a minute
    assert statements(twenty) == statements(one) <= 5


def test_openapi_file_and_api_reference_tables_are_what_make_openapi_writes():
    from devtools.openapi import document, render, with_tables

    assert render() == (ROOT / "docs" / "openapi.json").read_text(), "run `make openapi`"
    reference = (ROOT / "docs" / "api.md").read_text()
    assert with_tables(reference, document()) == reference, "docs/api.md's tables are stale: run `make openapi`"
    assert json.loads(render())["info"]["title"] == "ShelfWatch API"


def test_error_codes_answered_are_in_the_spec_enum(spec):
    from api.problems import ERROR_CODES

    enum = set(spec["components"]["schemas"]["Problem"]["properties"]["code"]["enum"])
    assert set(ERROR_CODES) <= enum
    assert {"invalid_store_id", "missing_store_id", "invalid_limit", "invalid_idempotency_key"} <= enum
