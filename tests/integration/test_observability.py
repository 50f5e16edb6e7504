"""Metrics from every process, queue gauges from Postgres, one request id from gateway to worker."""

from __future__ import annotations

import io
import json
import time
import uuid

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import SAMPLES, auth


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(url, timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(metrics: dict, name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_job_is_counted_once_across_every_process(gateway, worker, api_key):
    """Two gunicorn workers and two Celery children, each aggregated in multiprocess mode."""
    before_api, before_worker = samples(f"{gateway}/metrics"), samples(worker.metrics_url)
    photos = [(f"{i}.jpg", SAMPLES[i].read_bytes()) for i in range(3)]
    r = requests.post(f"{gateway}/v1/audits", headers=auth(api_key), data={"store_id": "metrics"},
                      files=[("photos", p) for p in photos], timeout=30)
    assert r.status_code == 202
    for _ in range(4):  # spread GETs over both gunicorn workers
        requests.get(f"{gateway}/healthz", timeout=5)
    deadline = time.monotonic() + 60
    while requests.get(r.json()["url"], headers=auth(api_key), timeout=10).json()["status"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    api, work = samples(f"{gateway}/metrics"), samples(worker.metrics_url)

    def delta(after: dict, before: dict, name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(api, before_api, "shelfwatch_photos_submitted_total") == 3
    assert delta(api, before_api, "shelfwatch_http_requests_total", route="/v1/audits", method="POST",
                 status="202") == 1
    assert delta(api, before_api, "shelfwatch_http_requests_total", route="/healthz", method="GET",
                 status="200") == 4
    assert delta(work, before_worker, "shelfwatch_jobs_total", queue="audits", outcome="done") == 3
    assert delta(work, before_worker, "shelfwatch_queue_wait_seconds_count", queue="audits") == 3
    assert delta(work, before_worker, "shelfwatch_job_seconds_count", queue="audits") == 3
    assert delta(work, before_worker, "shelfwatch_batch_stage_seconds_count", queue="audits", stage="detect") >= 1
    assert delta(work, before_worker, "shelfwatch_photo_seconds_count", queue="audits", stage="decode") == 3
    assert delta(work, before_worker, "shelfwatch_photo_seconds_count", queue="audits", stage="infer") == 3
    assert value(work, "shelfwatch_model_info", mode="accurate", version="shelfwatch-v1-int8", provider="cpu") == 1
    assert value(api, "shelfwatch_workers_consuming", queue="audits") >= 1


def test_queue_gauges_follow_job_states_in_postgres(client, api_key, factory, tenant):
    from sqlalchemy import insert, update

    from shared.db import transaction
    from shared.models import Audit, Job

    def gauges() -> dict:
        text = client.get("/metrics").data.decode()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    base = gauges()
    audit_id, ids = uuid.uuid4(), [uuid.uuid4() for _ in range(5)]
    with transaction(factory) as s:  # queued rows no broker knows of: nothing consumes them
        s.execute(insert(Audit).values(id=audit_id, tenant_id=tenant, store_id="gauges", request_hash="x"))
        s.execute(insert(Job), [{"id": j, "tenant_id": tenant, "audit_id": audit_id, "position": i, "photo_key": "k",
                                 "photo_sha256": "0" * 64, "photo_bytes": 1, "width": 1, "height": 1,
                                 "status": "queued", "queue": "audits"} for i, j in enumerate(ids)])
    try:
        queued = gauges()
        assert value(queued, "shelfwatch_queue_jobs", queue="audits", state="queued") == \
            value(base, "shelfwatch_queue_jobs", queue="audits", state="queued") + 5
        assert value(queued, "shelfwatch_queue_oldest_seconds", queue="audits") >= 0
        with transaction(factory) as s:
            s.execute(update(Job).where(Job.id.in_(ids[:2])).values(status="running"))
        running = gauges()
        assert value(running, "shelfwatch_queue_jobs", queue="audits", state="running") == \
            value(base, "shelfwatch_queue_jobs", queue="audits", state="running") + 2
        assert value(running, "shelfwatch_queue_jobs", queue="audits", state="queued") == \
            value(base, "shelfwatch_queue_jobs", queue="audits", state="queued") + 3
    finally:
        with transaction(factory) as s:
            s.execute(update(Job).where(Job.id.in_(ids)).values(status="failed"))
    after = gauges()
    assert value(after, "shelfwatch_queue_jobs", queue="audits", state="queued") == \
        value(base, "shelfwatch_queue_jobs", queue="audits", state="queued")


def test_a_request_id_follows_the_photo_into_the_worker_log(client, api_key, worker):
    rid = f"req-{uuid.uuid4().hex[:12]}"
    photo = (io.BytesIO(SAMPLES[3].read_bytes()), "t.jpg")
    r = client.post("/v1/audits", data={"store_id": "trace", "photos": [photo]},
                    headers={**auth(api_key), "X-Request-Id": rid}, content_type="multipart/form-data")
    assert r.status_code == 202
    assert r.headers["X-Request-Id"] == rid
    job_id = r.get_json()["job_ids"][0]
    deadline = time.monotonic() + 60
    while True:
        lines = [json.loads(line) for line in worker.log.read_text().splitlines() if line.startswith("{")]
        mine = [entry for entry in lines if entry.get("request_id") == rid]
        if mine:
            break
        assert time.monotonic() < deadline, "no worker log line carried the request id"
        time.sleep(0.2)
    assert mine[0]["job"] == job_id
    assert mine[0]["message"].startswith("job claimed")
    assert {"tenant", "audit", "ts", "level", "logger"} <= set(mine[0])
    made = client.get("/healthz")
    assert len(made.headers["X-Request-Id"]) == 32  # none given: the gateway makes one
