"""The path of a photo through the real farm: gateway → S3 → Redis → worker → Postgres."""

from __future__ import annotations

import uuid

import cv2
import numpy as np
from sqlalchemy import func, select

from shared.celery_app import enqueue, make_celery
from shared.models import Audit, Detection, Job, Result
from tests.conftest import SAMPLES, auth, post_audit, problem, wait_for


def decoded(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def corrupt_jpeg() -> bytes:
    """A JPEG whose header is valid (the gateway accepts it) but whose data is garbage."""
    _, buf = cv2.imencode(".jpg", np.full((64, 96, 3), 128, np.uint8))
    head = buf.tobytes()
    sos = head.index(b"\xff\xda")
    return head[: sos] + b"\xff\xda" + bytes(np.random.default_rng(0).integers(0, 255, 2000, dtype=np.uint8))


def test_one_photo_end_to_end(client, api_key, worker):
    photo = SAMPLES[0].read_bytes()
    r = post_audit(client, api_key, [photo], aisle="7", captured_at="2026-11-20T10:00:00Z")
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert len(body["job_ids"]) == 1
    assert body["url"].endswith(body["audit_id"])
    assert r.headers["Location"] == body["url"]
    assert int(r.headers["Retry-After"]) >= 1
    assert body["jobs"] == [{"id": body["job_ids"][0], "url": f"http://localhost/v1/jobs/{body['job_ids'][0]}"}]
    job = wait_for(client, f"/v1/jobs/{body['job_ids'][0]}", api_key)
    assert job["status"] == "done"
    assert job["model_version"].startswith("shelfwatch-")
    assert sum(job["counts"].values()) == job["detection_count"] == len(job["detections"])
    h, w = decoded(photo).shape[:2]
    for d in job["detections"]:
        x1, y1, x2, y2 = d["box"]
        assert 0 <= x1 < x2 <= w
        assert 0 <= y1 < y2 <= h
        assert 0 < d["confidence"] <= 1
    t = job["timings"]
    assert t["queued_at"] <= t["started_at"] <= t["finished_at"]
    assert set(t["worker_ms"]) == {"claim", "fetch", "detect_per_photo"}
    assert t["queue_wait_ms"] >= 0
    img = client.get(f"/v1/jobs/{job['id']}/annotated.jpg", headers=auth(api_key))
    assert img.status_code == 200
    assert img.mimetype == "image/jpeg"
    assert decoded(img.data).shape[:2] == (h, w)


def test_n_photos_are_one_batch(client, api_key, worker, factory):
    photos = [p.read_bytes() for p in SAMPLES] + [SAMPLES[0].read_bytes()]
    r = post_audit(client, api_key, photos)
    assert r.status_code == 202
    audit = wait_for(client, f"/v1/audits/{r.get_json()['audit_id']}", api_key)
    assert audit["status"] == "done"
    assert [j["status"] for j in audit["jobs"]] == ["done"] * len(photos)
    with factory() as s:
        rows = s.execute(select(Result.batch_id, Result.batch_size).join(Job, Job.id == Result.job_id)
                         .where(Job.audit_id == uuid.UUID(audit["id"]))).all()
    with factory() as s:
        row = s.get(Audit, uuid.UUID(audit["id"]))
        assert row.status == "done"
        assert row.finished_at is not None
    assert audit["progress"] == {"total": len(photos), "done": len(photos), "failed": 0, "pending": 0}
    # taken, fetched, inferred and written together: one batch id, its size the whole audit
    assert len({b for b, _ in rows}) == 1
    assert {n for _, n in rows} == {len(photos)}
    # the same photo twice in one audit gives the same counts
    assert audit["jobs"][0]["counts"] == audit["jobs"][-1]["counts"]
    totals: dict[str, int] = {}
    for j in audit["jobs"]:
        for c, n in j["counts"].items():
            totals[c] = totals.get(c, 0) + n
    assert audit["counts"] == totals


def test_idempotent_resubmission(client, api_key, factory):
    photo = SAMPLES[1].read_bytes()
    key = f"idem-{uuid.uuid4()}"
    first = post_audit(client, api_key, [photo], idem=key)
    again = post_audit(client, api_key, [photo], idem=key)
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.get_json()["audit_id"] == first.get_json()["audit_id"]
    assert again.get_json()["job_ids"] == first.get_json()["job_ids"]
    assert again.get_json()["replayed"] is True
    with factory() as s:
        n = s.execute(select(func.count()).select_from(Job)
                      .where(Job.audit_id == uuid.UUID(first.get_json()["audit_id"]))).scalar()
    assert n == 1
    # the same key for a different request is refused, not silently replayed
    other = post_audit(client, api_key, [SAMPLES[2].read_bytes()], idem=key)
    problem(other, 422, "idempotency_key_reused")


def test_job_delivered_twice_writes_one_result(client, api_key, worker, factory, settings):
    r = post_audit(client, api_key, [SAMPLES[2].read_bytes()])
    job_id = r.get_json()["job_ids"][0]
    first = wait_for(client, f"/v1/jobs/{job_id}", api_key)
    celery = make_celery(settings)
    enqueue(celery, job_id)  # the broker redelivers, the reaper re-enqueues: twice more
    enqueue(celery, job_id)
    # a marker job sent after the duplicates: when it is done, they were consumed too
    marker = post_audit(client, api_key, [SAMPLES[3].read_bytes()]).get_json()["job_ids"][0]
    wait_for(client, f"/v1/jobs/{marker}", api_key)
    with factory() as s:
        results = s.execute(select(Result.id).where(Result.job_id == uuid.UUID(job_id))).scalars().all()
        n_det = s.execute(select(func.count()).select_from(Detection)
                          .where(Detection.result_id == results[0])).scalar()
        attempts = s.get(Job, uuid.UUID(job_id)).attempts
    assert len(results) == 1
    assert n_det == first["detection_count"]
    assert attempts == 1  # the duplicates were skipped, not re-run


def test_corrupt_photo_fails_and_worker_keeps_going(client, api_key, worker):
    r = post_audit(client, api_key, [corrupt_jpeg(), SAMPLES[0].read_bytes()])
    assert r.status_code == 202, r.get_json()
    audit = wait_for(client, f"/v1/audits/{r.get_json()['audit_id']}", api_key)
    bad, good = audit["jobs"]
    assert bad["status"] == "failed"
    assert bad["failure"]["code"] == "photo_undecodable"
    assert bad["failure"]["reason"]
    assert good["status"] == "done"
    assert audit["status"] == "partial"
    # and the next audit is processed normally
    nxt = post_audit(client, api_key, [SAMPLES[1].read_bytes()]).get_json()
    assert wait_for(client, f"/v1/audits/{nxt['audit_id']}", api_key)["status"] == "done"


def test_job_lost_by_the_broker_is_requeued_and_done(client, api_key, tenant, worker, factory, settings):
    """The gateway committed the audit but died before its enqueue: the reaper sends it again."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from shared.audits import submit_audit
    from shared.db import transaction
    from shared.reaper import requeue_stale
    from shared.storage import PhotoStore

    sub = submit_audit(factory, PhotoStore(settings), settings, tenant_id=tenant,  # api_key's
                       store_id="store-lost", aisle=None, captured_at=None, idempotency_key=None,
                       photos=[SAMPLES[3].read_bytes()])
    job_id = sub.job_ids[0]  # committed, never enqueued
    celery = make_celery(settings)
    # young jobs are left alone: they may still be on their way through a long queue
    assert str(job_id) not in requeue_stale(factory, celery, older_than_s=600)
    with transaction(factory) as s:
        s.execute(update(Job).where(Job.id == job_id).values(queued_at=datetime.now(UTC) - timedelta(hours=1)))
    assert str(job_id) in requeue_stale(factory, celery, older_than_s=600)
    job = wait_for(client, f"/v1/jobs/{job_id}", api_key)
    assert job["status"] == "done"
    assert job["detection_count"] > 0
    # once done, it is never sent again
    assert str(job_id) not in requeue_stale(factory, celery, older_than_s=600)
