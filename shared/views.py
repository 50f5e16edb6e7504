"""Reading audits and jobs: the public JSON of each, and lists with cursor pagination.

Every query is scoped to one tenant: another tenant's audit or job does not exist for
the caller (``NotFound``, never "forbidden"). A view of an audit with N jobs costs three
queries whatever N is (audit, jobs, their results), never one per job.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from shared.detector import detection_json
from shared.errors import Invalid, NotFound
from shared.models import Audit, AuditStatus, Detection, Job, JobStatus, Result

MAX_PAGE = 200


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def _parse_id(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise NotFound(f"{what}_not_found", f"no {what} {value}") from exc


def get_job(session: Session, tenant_id: str, job_id: str) -> Job:
    job = session.get(Job, _parse_id(job_id, "job"))
    if job is None or job.tenant_id != tenant_id:  # another tenant's job does not exist for you
        raise NotFound("job_not_found", f"no job {job_id}")
    return job


def get_audit(session: Session, tenant_id: str, audit_id: str) -> Audit:
    audit = session.get(Audit, _parse_id(audit_id, "audit"))
    if audit is None or audit.tenant_id != tenant_id:
        raise NotFound("audit_not_found", f"no audit {audit_id}")
    return audit


def _results(session: Session, jobs: list[Job]) -> dict[uuid.UUID, Result]:
    """The current result of each job (the one of the model version it last ran), one query."""
    keys = [(j.id, j.model_version) for j in jobs if j.model_version is not None]
    if not keys:
        return {}
    rows = session.execute(select(Result).where(tuple_(Result.job_id, Result.model_version).in_(keys))).scalars()
    return {r.job_id: r for r in rows}


def job_view(job: Job, result: Result | None, detections: list[Detection] | None = None) -> dict:
    timings: dict = {"queued_at": _iso(job.queued_at), "started_at": _iso(job.started_at),
                     "finished_at": _iso(job.finished_at)}
    if job.started_at and job.queued_at:
        timings["queue_wait_ms"] = round((job.started_at - job.queued_at).total_seconds() * 1e3, 1)
    view: dict = {
        "id": str(job.id),
        "audit_id": str(job.audit_id),
        "status": job.status,
        "mode": job.mode,
        "photo": {"bytes": job.photo_bytes, "width": job.width, "height": job.height, "sha256": job.photo_sha256},
        "model_version": job.model_version,
        "timings": timings,
        "attempts": job.attempts,
    }
    if job.status == JobStatus.FAILED:
        view["failure"] = {"code": job.failure_code, "reason": job.failure_reason}
    if result is not None:
        view["counts"] = result.counts
        view["detection_count"] = result.detection_count
        timings["worker_ms"] = result.timings_ms
        view["batch"] = {"id": result.batch_id, "size": result.batch_size}
    if result is not None and result.analytics is not None:
        a = result.analytics
        if detections is None:  # an audit's job list: the figures only
            view["analytics_summary"] = {"rows": len(a["rows"]), "groups": len(a["groups"]), "gaps": len(a["gaps"]),
                                         "missing_facings": a["missing_facings"]}
        else:
            view["analytics"] = {k: a[k] for k in ("rows", "groups", "gaps", "facings", "missing_facings")}
    if detections is not None:
        marks = result.analytics["detections"] if result is not None and result.analytics else None
        view["detections"] = [
            {**detection_json(d.class_name, d.confidence, (d.x1, d.y1, d.x2, d.y2)),
             **(marks[i] if marks and i < len(marks) else {})}
            for i, d in enumerate(detections)]
    return view


def job_with_detections(session: Session, tenant_id: str, job_id: str, model_version: str | None = None) -> dict:
    """A job with its served result, or with the result of ``model_version`` (a re-scan's)."""
    job = get_job(session, tenant_id, job_id)
    if model_version is None:
        result = _results(session, [job]).get(job.id)
    else:
        result = session.execute(select(Result).where(Result.job_id == job.id,
                                                      Result.model_version == model_version)).scalar_one_or_none()
        if result is None:
            raise NotFound("result_not_found", f"job {job_id} has no result of model version {model_version}")
    detections = None
    if result is not None:
        detections = list(session.execute(
            select(Detection).where(Detection.result_id == result.id).order_by(Detection.id)).scalars())
    view = job_view(job, result, detections)
    if model_version is not None:
        view["model_version"] = model_version
    return view


def jobs_of(session: Session, audit: Audit) -> list[dict]:
    jobs = list(session.execute(select(Job).where(Job.audit_id == audit.id).order_by(Job.position)).scalars())
    results = _results(session, jobs)
    return [job_view(j, results.get(j.id)) for j in jobs]


def audit_view(session: Session, tenant_id: str, audit_id: str) -> dict:
    audit = get_audit(session, tenant_id, audit_id)
    jobs = jobs_of(session, audit)
    totals: dict[str, int] = {}
    for v in jobs:
        for name, n in v.get("counts", {}).items():
            totals[name] = totals.get(name, 0) + n
    statuses = [j["status"] for j in jobs]
    done, failed = statuses.count(JobStatus.DONE), statuses.count(JobStatus.FAILED)
    return {
        **audit_summary(audit),
        "counts": dict(sorted(totals.items())),
        "progress": {"total": len(jobs), "done": done, "failed": failed, "pending": len(jobs) - done - failed},
        "jobs": jobs,
    }


def audit_summary(audit: Audit) -> dict:
    """An audit without its jobs: what a list shows."""
    return {
        "id": str(audit.id),
        "store_id": audit.store_id,
        "aisle": audit.aisle,
        "status": audit.status,
        "captured_at": _iso(audit.captured_at),
        "created_at": _iso(audit.created_at),
        "finished_at": _iso(audit.finished_at),
        "facings": audit.facings,
        "stock_status": audit.stock_status,
        "compliance": audit.compliance,
    }


# --- lists --------------------------------------------------------------------------------

def encode_cursor(created_at: datetime, audit_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(audit_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created, audit_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created), uuid.UUID(audit_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise Invalid.one("cursor", "invalid_cursor", "cursor: pass back a next_cursor this API returned") from exc


def keyset_page(session: Session, query: Select, model: Any, limit: int, cursor: str | None,
                time_column: str = "created_at") -> tuple[list, str | None]:
    """One page of ``query`` newest first by (``time_column``, id), and the cursor of the next.

    A keyset, not an offset: rows created while a client walks the list never shift its
    pages (they appear only before the first page).
    """
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid.one("limit", "invalid_limit", f"limit: 1-{MAX_PAGE}")
    at = getattr(model, time_column)
    if cursor:
        created, last = decode_cursor(cursor)
        query = query.where(or_(at < created, and_(at == created, model.id < last)))
    rows = list(session.execute(query.order_by(at.desc(), model.id.desc()).limit(limit + 1)).scalars())
    more, rows = len(rows) > limit, rows[:limit]
    return rows, encode_cursor(getattr(rows[-1], time_column), rows[-1].id) if more else None


def list_audits(session: Session, tenant_id: str, *, store_id: str | None = None, status: str | None = None,
                since: datetime | None = None, until: datetime | None = None, limit: int = 50,
                cursor: str | None = None) -> tuple[list[dict], str | None]:
    """A tenant's audits, newest first, ``limit`` at a time; the cursor continues after the last one.

    The cursor is the last row's (created_at, id): a keyset, so audits created while a
    client walks the list never shift its pages (they appear only before the first page).
    """
    if status is not None and status not in AuditStatus.ALL:
        raise Invalid.one("status", "invalid_status", f"status: one of {', '.join(AuditStatus.ALL)}")
    query = select(Audit).where(Audit.tenant_id == tenant_id)
    if store_id is not None:
        query = query.where(Audit.store_id == store_id)
    if status is not None:
        query = query.where(Audit.status == status)
    if since is not None:
        query = query.where(Audit.created_at >= since)
    if until is not None:
        query = query.where(Audit.created_at < until)
    rows, next_cursor = keyset_page(session, query, Audit, limit, cursor)
    return [audit_summary(a) for a in rows], next_cursor


def recent_jobs(session: Session, tenant_id: str, *, status: str | None = None, store_id: str | None = None,
                limit: int = 50, cursor: str | None = None) -> tuple[list[dict], str | None]:
    """A tenant's jobs, newest first (by the time they were queued), with their store and aisle."""
    query = select(Job).where(Job.tenant_id == tenant_id)
    if status is not None:
        query = query.where(Job.status == status)
    if store_id is not None:
        query = query.join(Audit, Audit.id == Job.audit_id).where(Audit.store_id == store_id)
    jobs, next_cursor = keyset_page(session, query, Job, limit, cursor, time_column="queued_at")
    results = _results(session, jobs)
    audits = {a.id: a for a in session.execute(select(Audit).where(Audit.id.in_({j.audit_id for j in jobs})))
              .scalars()} if jobs else {}
    return [{**job_view(j, results.get(j.id)), "store_id": audits[j.audit_id].store_id,
             "aisle": audits[j.audit_id].aisle} for j in jobs], next_cursor
