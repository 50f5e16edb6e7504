"""Submitting audits and reading their state: the domain behind the gateway's routes.

``submit_audit`` validates every photo before anything is stored, puts the photos in
object storage, then inserts the audit and its jobs in one transaction. The caller
enqueues the job ids only after that commit (``commit, then enqueue``).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shared.imaging import PhotoError, read_header
from shared.models import Audit, Detection, Job, JobStatus, Result
from shared.registry import DEFAULT_MODE, MODES
from shared.settings import Settings
from shared.storage import PhotoStore

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ApiError(Exception):
    """An error with a stable code and the HTTP status it maps to."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Submission:
    audit_id: uuid.UUID
    job_ids: list[uuid.UUID]
    created: bool  # False when an Idempotency-Key matched an earlier audit
    queued: list[uuid.UUID] = field(default_factory=list)  # jobs still to enqueue


_PHOTO_STATUS = {"unsupported_media_type": 415, "photo_unreadable": 422}


def validate_photo(data: bytes, settings: Settings, index: int) -> str:
    """Check one upload without decoding it; returns its content type."""
    where = f"photo {index + 1}"
    if len(data) == 0:
        raise ApiError(422, "photo_empty", f"{where} is empty")
    if len(data) > settings.max_photo_bytes:
        raise ApiError(413, "photo_too_large", f"{where} is {len(data)} bytes; the limit is {settings.max_photo_bytes}")
    try:
        header = read_header(data)
    except PhotoError as exc:
        raise ApiError(_PHOTO_STATUS.get(exc.code, 422), exc.code, f"{where}: {exc}") from exc
    if header.width * header.height > settings.max_photo_pixels:
        raise ApiError(413, "photo_too_many_pixels",
                       f"{where} is {header.width}x{header.height}; the limit is {settings.max_photo_pixels} pixels")
    return header.content_type


def parse_captured_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(422, "invalid_captured_at", "captured_at must be an ISO 8601 timestamp") from exc
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def submit_audit(factory: sessionmaker[Session], store: PhotoStore, settings: Settings, *, tenant_id: str,
                 store_id: str, aisle: str | None, captured_at: str | None, idempotency_key: str | None,
                 photos: list[bytes], mode: str | None = None) -> Submission:
    mode = mode or DEFAULT_MODE
    if mode not in MODES:
        raise ApiError(422, "invalid_mode", f"mode: one of {', '.join(MODES)}")
    if not store_id or not _ID.match(store_id):
        raise ApiError(422, "invalid_store_id", "store_id: 1-64 letters, digits, '.', '_' or '-'")
    if aisle is not None and (len(aisle) > 64 or not aisle.isprintable()):
        raise ApiError(422, "invalid_aisle", "aisle: at most 64 printable characters")
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 128:
        raise ApiError(422, "invalid_idempotency_key", "Idempotency-Key: 1-128 characters")
    if not photos:
        raise ApiError(422, "no_photos", "send one or more files in the multipart field 'photos'")
    if len(photos) > settings.max_photos_per_audit:
        raise ApiError(413, "too_many_photos", f"at most {settings.max_photos_per_audit} photos per audit")
    when = parse_captured_at(captured_at)
    types = [validate_photo(p, settings, i) for i, p in enumerate(photos)]
    digests = [hashlib.sha256(p).hexdigest() for p in photos]
    request_hash = hashlib.sha256(
        "\n".join([store_id, aisle or "", when.isoformat() if when else "", mode, *digests]).encode()
    ).hexdigest()

    if idempotency_key:
        earlier = _find_by_key(factory, tenant_id, idempotency_key, request_hash)
        if earlier:
            return earlier

    audit_id = uuid.uuid4()
    job_ids = [uuid.uuid4() for _ in photos]
    day = when or datetime.now(UTC)
    keys = [PhotoStore.key_for(tenant_id, store_id, day, str(j)) for j in job_ids]
    for key, data, ctype in zip(keys, photos, types, strict=True):
        store.put(key, data, ctype)
    try:
        with factory() as session, session.begin():
            session.add(Audit(id=audit_id, tenant_id=tenant_id, store_id=store_id, aisle=aisle,
                              captured_at=when, idempotency_key=idempotency_key, request_hash=request_hash))
            session.flush()
            for i, (job_id, key, data, digest) in enumerate(zip(job_ids, keys, photos, digests, strict=True)):
                h = read_header(data)
                session.add(Job(id=job_id, tenant_id=tenant_id, audit_id=audit_id, position=i, photo_key=key,
                                photo_sha256=digest, photo_bytes=len(data), width=h.width, height=h.height,
                                queue="audits", mode=mode, status=JobStatus.QUEUED))
    except IntegrityError:
        # the same Idempotency-Key committed by a concurrent request: answer with that audit
        if idempotency_key:
            earlier = _find_by_key(factory, tenant_id, idempotency_key, request_hash)
            if earlier:
                return earlier
        raise
    return Submission(audit_id, job_ids, created=True, queued=list(job_ids))


def _find_by_key(factory, tenant_id: str, key: str, request_hash: str) -> Submission | None:
    with factory() as session:
        audit = session.execute(
            select(Audit).where(Audit.tenant_id == tenant_id, Audit.idempotency_key == key)
        ).scalar_one_or_none()
        if audit is None:
            return None
        if audit.request_hash != request_hash:
            raise ApiError(422, "idempotency_key_reused",
                           "this Idempotency-Key was used for a different request")
        jobs = session.execute(select(Job.id).where(Job.audit_id == audit.id).order_by(Job.position)).scalars()
        return Submission(audit.id, list(jobs), created=False)


# --- reading state ------------------------------------------------------------------

def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def _parse_id(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise ApiError(404, f"{what}_not_found", f"no {what} {value}") from exc


def get_job_row(session: Session, tenant_id: str, job_id: str) -> Job:
    job = session.get(Job, _parse_id(job_id, "job"))
    if job is None or job.tenant_id != tenant_id:  # another tenant's job does not exist for you
        raise ApiError(404, "job_not_found", f"no job {job_id}")
    return job


def latest_result(session: Session, job: Job) -> Result | None:
    if job.model_version is None:
        return None
    return session.execute(
        select(Result).where(Result.job_id == job.id, Result.model_version == job.model_version)
    ).scalar_one_or_none()


def job_view(session: Session, job: Job, with_detections: bool = True) -> dict:
    view: dict = {
        "id": str(job.id),
        "audit_id": str(job.audit_id),
        "status": job.status,
        "mode": job.mode,
        "photo": {"bytes": job.photo_bytes, "width": job.width, "height": job.height, "sha256": job.photo_sha256},
        "model_version": job.model_version,
        "timings": {"queued_at": _iso(job.queued_at), "started_at": _iso(job.started_at),
                    "finished_at": _iso(job.finished_at)},
        "attempts": job.attempts,
    }
    if job.status == JobStatus.FAILED:
        view["failure"] = {"code": job.failure_code, "reason": job.failure_reason}
    result = latest_result(session, job)
    if result is not None:
        view["counts"] = result.counts
        view["detection_count"] = result.detection_count
        view["timings"]["worker_ms"] = result.timings_ms
        view["batch"] = {"id": result.batch_id, "size": result.batch_size}
        if with_detections:
            rows = session.execute(
                select(Detection).where(Detection.result_id == result.id).order_by(Detection.id)
            ).scalars()
            view["detections"] = [
                {"class": d.class_name, "confidence": round(d.confidence, 4),
                 "box": [round(d.x1, 1), round(d.y1, 1), round(d.x2, 1), round(d.y2, 1)]}
                for d in rows
            ]
    return view


def audit_view(session: Session, tenant_id: str, audit_id: str) -> dict:
    audit = session.get(Audit, _parse_id(audit_id, "audit"))
    if audit is None or audit.tenant_id != tenant_id:
        raise ApiError(404, "audit_not_found", f"no audit {audit_id}")
    jobs = session.execute(select(Job).where(Job.audit_id == audit.id).order_by(Job.position)).scalars().all()
    job_views = [job_view(session, j, with_detections=False) for j in jobs]
    totals: dict[str, int] = {}
    for v in job_views:
        for name, n in v.get("counts", {}).items():
            totals[name] = totals.get(name, 0) + n
    statuses = {j.status for j in jobs}
    if statuses <= set(JobStatus.FINAL):
        status = "done" if JobStatus.FAILED not in statuses else ("failed" if statuses == {JobStatus.FAILED}
                                                                   else "partial")
    else:
        status = "running" if statuses & {JobStatus.RUNNING, JobStatus.DONE, JobStatus.FAILED} else "queued"
    return {
        "id": str(audit.id),
        "store_id": audit.store_id,
        "aisle": audit.aisle,
        "captured_at": _iso(audit.captured_at),
        "created_at": _iso(audit.created_at),
        "status": status,
        "counts": dict(sorted(totals.items())),
        "jobs": job_views,
    }
