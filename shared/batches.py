"""One worker batch: jobs from Postgres, photos from S3, detections back to Postgres.

``process_batch`` is the whole worker path for up to ``BATCH_SIZE`` job ids. It is
idempotent: a job that already has a result for the running model version is skipped,
and the result insert is ``ON CONFLICT (job_id, model_version) DO NOTHING``, so a
message delivered twice (broker redelivery, reaper) never writes twice.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from botocore.exceptions import ClientError
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, sessionmaker

from shared import analytics
from shared.audits import refresh_audit_status
from shared.detector import Detection as Found
from shared.detector import Detector, boxes_of, counts_of
from shared.imaging import Decoded, PhotoError, decode, shrink
from shared.logs import context
from shared.models import Detection, Job, JobStatus, Result
from shared.plausibility import not_a_shelf
from shared.storage import PhotoStore

log = logging.getLogger("shelfwatch.batches")
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Retry:
    """A job to send again after transient trouble, to its own queue, after its n-th attempt."""

    job_id: str
    queue: str
    attempts: int


@dataclass
class BatchReport:
    batch_id: str
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    retry: list[Retry] = field(default_factory=list)  # transient trouble: enqueue again, later
    deliveries: list[str] = field(default_factory=list)  # webhook deliveries to send (finished audits)
    waits_s: list[float] = field(default_factory=list)  # each claimed job: queued -> claimed
    decode_s: list[float] = field(default_factory=list)  # each photo's decode
    infer_s: list[float] = field(default_factory=list)  # each photo's model run and post-processing
    e2e_s: list[float] = field(default_factory=list)  # each finished job: queued -> result written
    found: list[tuple[str, str, int]] = field(default_factory=list)  # each result: (mode, model version, products)
    timings_ms: dict[str, float] = field(default_factory=dict)


def _ids(job_ids: list[str]) -> list[uuid.UUID]:
    seen: dict[uuid.UUID, None] = {}
    for j in job_ids:
        try:
            seen[uuid.UUID(str(j))] = None
        except ValueError:
            log.warning("ignoring malformed job id %r", j)
    return list(seen)


def in_canary(job_id: uuid.UUID, fraction: float) -> bool:
    """Whether this job goes to its mode's canary model: a fixed share of job ids, so a retry
    of a job lands on the same model."""
    return zlib.crc32(job_id.bytes) % 10_000 < round(fraction * 10_000)


def process_batch(factory: sessionmaker[Session], store: PhotoStore, detectors: dict[str, Detector],
                  job_ids: list[str], public_url: str = "", worker: str | None = None,
                  canaries: dict[str, tuple[Detector, float]] | None = None) -> BatchReport:
    """Run one batch; ``detectors`` maps each mode (fast, accurate) to its detector, and
    ``canaries`` a mode to a candidate detector and the fraction of jobs it takes.

    ``worker`` (``shared.leases.worker_id()``) is stamped on the jobs claimed: if this
    process dies, beat's reaper puts them back on the queue once its heartbeat stops.
    """
    report = BatchReport(batch_id=str(uuid.uuid4()))
    t0 = time.perf_counter()

    # 1. claim: jobs not final, or final for an older model version (a re-scan)
    with factory() as session, session.begin():
        rows = session.execute(
            select(Job.id, Job.tenant_id, Job.audit_id, Job.photo_key, Job.mode, Job.queue, Job.status,
                   Job.model_version, Job.attempts, Job.queued_at, Job.request_id, Job.photo_sha256,
                   Job.photo_checksum_pending)
            .where(Job.id.in_(_ids(job_ids)))
            .with_for_update(skip_locked=True)
        ).all()
        canaries = canaries or {}

        def model_for(r: Any) -> Detector:
            candidate = canaries.get(r.mode)
            return candidate[0] if candidate and in_canary(r.id, candidate[1]) else detectors[r.mode]

        todo = []
        for r in rows:
            version = model_for(r).version
            if r.status in JobStatus.FINAL and (r.status == JobStatus.FAILED or r.model_version == version):
                report.skipped.append(str(r.id))
            else:
                todo.append(r)
        if todo:
            session.execute(
                update(Job).where(Job.id.in_([r.id for r in todo]))
                .values(status=JobStatus.RUNNING, attempts=Job.attempts + 1,
                        started_at=datetime.now(UTC), claimed_by=worker)
            )
            refresh_audit_status(session, {r.audit_id for r in todo})
    if not todo:
        return report
    claimed_at = datetime.now(UTC)
    report.waits_s = [(claimed_at - r.queued_at).total_seconds() for r in todo]
    for r in todo:  # one line per job: its request id joins the gateway's lines to the worker's
        with context(job=r.id, tenant=r.tenant_id, audit=r.audit_id, request_id=r.request_id):
            log.info("job claimed after %.0f ms in the queue", (claimed_at - r.queued_at).total_seconds() * 1e3)
    t1 = time.perf_counter()

    # 2. fetch concurrently, 3. detect each photo as soon as it is in (the rest still downloading)
    chosen = [model_for(r) for r in todo]
    photos: list[bytes | Exception] = []
    outcomes: list[list[Found] | Exception] = []  # fetch errors stay as they are
    decoded: list[Decoded | None] = []  # the model's decode, reused by the analytics
    waited = 0.0  # seconds blocked on the photos' download
    arrivals = store.iter_many([r.photo_key for r in todo])
    for r, detector in zip(todo, chosen, strict=True):
        t = time.perf_counter()
        p = next(arrivals)
        waited += time.perf_counter() - t
        # a direct upload whose S3 server kept no checksum: the photo is checked here, once
        if r.photo_checksum_pending and isinstance(p, bytes) and hashlib.sha256(p).hexdigest() != r.photo_sha256:
            p = PhotoError("photo_checksum_mismatch", "the photo in the bucket is not the one declared "
                           "(its SHA-256 differs)")
        photos.append(p)
        if isinstance(p, Exception):
            outcomes.append(p)
            decoded.append(None)
            continue
        outcomes.append(detector.detect_many([p])[0])
        decoded.append(detector.last_decoded[0])
        report.decode_s += detector.last_decode_s
        report.infer_s += detector.last_infer_s
    for i, outcome in enumerate(outcomes):  # hundreds of "products" on noise is no count (shared.plausibility)
        if isinstance(outcome, list) and (reason := not_a_shelf(outcome, chosen[i].shelf_limits)):
            outcomes[i] = PhotoError("not_a_shelf", reason)
    analyses = [analyse_photo(d or p, o) if isinstance(p, bytes) and isinstance(o, list) else None
                for p, o, d in zip(photos, outcomes, decoded, strict=True)]
    t3 = time.perf_counter()
    n = len(todo)
    timings = {"claim": (t1 - t0) * 1e3, "fetch": waited * 1e3, "detect_per_photo": (t3 - t1 - waited) * 1e3 / n}

    # 4. one transaction for the whole batch
    now = datetime.now(UTC)
    with factory() as session, session.begin():
        for row, detector, outcome, analysis in zip(todo, chosen, outcomes, analyses, strict=True):
            jid = str(row.id)
            if isinstance(outcome, list):
                _write_result(session, row.id, row.tenant_id, detector.version, outcome,
                              report.batch_id, n, timings, now, analysis)
                if row.photo_checksum_pending:  # checked above: re-scans need not hash it again
                    session.execute(update(Job).where(Job.id == row.id).values(photo_checksum_pending=False))
                report.done.append(jid)
                report.e2e_s.append((now - row.queued_at).total_seconds())
                report.found.append((row.mode, detector.version, len(outcome)))
            elif _is_permanent(outcome) or row.attempts + 1 >= MAX_ATTEMPTS:
                code, reason = _failure(outcome)
                session.execute(update(Job).where(Job.id == row.id).values(
                    status=JobStatus.FAILED, failure_code=code, failure_reason=reason, finished_at=now))
                report.failed.append(jid)
            else:
                log.warning("job %s: transient error, will retry: %r", jid, outcome)
                session.execute(update(Job).where(Job.id == row.id).values(status=JobStatus.QUEUED))
                report.retry.append(Retry(jid, row.queue, row.attempts + 1))
        # the audit's status (and, once it is finished, its event) change in the same commit as its jobs
        changes = refresh_audit_status(session, {r.audit_id for r in todo}, public_url)
    report.deliveries = [str(d) for d in changes.deliveries]
    report.timings_ms = {**timings, "write": (time.perf_counter() - t3) * 1e3,
                         "total": (time.perf_counter() - t0) * 1e3}
    return report


def _write_result(session: Session, job_id: uuid.UUID, tenant_id: str, version: str, found: list[Found], batch_id: str,
                  batch_size: int, timings: dict, now: datetime, analysis: dict | None = None) -> None:
    insert_result(session, job_id, tenant_id, version, found, batch_id, batch_size, timings, analysis)
    session.execute(update(Job).where(Job.id == job_id).values(
        status=JobStatus.DONE, model_version=version, finished_at=now, failure_code=None, failure_reason=None))


def insert_result(session: Session, job_id: uuid.UUID, tenant_id: str, version: str, found: list[Found],
                  batch_id: str, batch_size: int, timings: dict, analysis: dict | None = None) -> bool:
    """One (job, model version) result and its detections; False if that result exists already."""
    result_id = session.execute(
        pg_insert(Result)
        .values(tenant_id=tenant_id, job_id=job_id, model_version=version, counts=counts_of(found), analytics=analysis,
                detection_count=len(found), timings_ms={k: round(v, 2) for k, v in timings.items()},
                batch_id=batch_id, batch_size=batch_size)
        .on_conflict_do_nothing(index_elements=["job_id", "model_version"])
        .returning(Result.id)
    ).scalar_one_or_none()
    if result_id is not None and found:
        copy_detections(session, tenant_id, result_id, found)
    return result_id is not None


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_COLUMNS = ("tenant_id", "result_id", "class_id", "class_name", "confidence", "x1", "y1", "x2", "y2")


def copy_detections(session: Session, tenant_id: str, result_id: int, found: list[Found]) -> None:
    """A result's detection rows in one ``COPY … FROM STDIN`` (inside the session's transaction).

    A dense shelf has ~150 detections per photo; as an ``INSERT`` they cost the worker
    parameter binding per value and Postgres a parse per statement batch, the largest
    part of the worker's write (``python -m devtools.bench.write_cost`` measures both).
    """
    tenant, lines = tenant_id.translate(_COPY_ESCAPES), []
    for d in found:
        x1, y1, x2, y2 = d.box
        lines.append(f"{tenant}\t{result_id}\t{d.class_id}\t{d.class_name.translate(_COPY_ESCAPES)}\t"
                     f"{d.confidence!r}\t{x1!r}\t{y1!r}\t{x2!r}\t{y2!r}\n")
    cursor = session.connection().connection.cursor()  # the transaction's own DB-API connection
    try:
        cursor.copy_expert(f"COPY {Detection.__tablename__} ({', '.join(_COPY_COLUMNS)}) FROM STDIN",
                           io.StringIO("".join(lines)))
    finally:
        cursor.close()


ANALYTICS_SIZE = 320  # the long side the analytics look at, at least (histograms need no detail)


def analyse_photo(photo: bytes | Decoded, found: list[Found]) -> dict | None:
    """Shelf analytics of one photo, from its pixels at a reduced size.

    ``photo``: the JPEG's bytes (decoded here at reduced scale) or, in the worker, the
    pixels the model's decode already made (``Detector.last_decoded``), halved to the same
    size: one decode per photo, not two. Never fails the job: the counts stand on their
    own, so an analytics bug costs the analytics (None, logged), not the photo's result.
    """
    boxes = boxes_of(found)
    confidences = np.array([d.confidence for d in found], np.float32)
    try:
        try:
            small = (shrink(photo, ANALYTICS_SIZE) if isinstance(photo, Decoded)
                     else decode(photo, target_size=ANALYTICS_SIZE))
        except PhotoError:
            return analytics.analyse(boxes, confidences=confidences)
        return analytics.analyse(boxes, small.image, 1.0 / small.scale_to_original, confidences)
    except Exception:
        log.exception("shelf analytics failed on a photo of %d detections", len(boxes))
        return None


def _is_permanent(exc: Exception) -> bool:
    if isinstance(exc, PhotoError):
        return True
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404")
    return False


def _failure(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, PhotoError):
        return exc.code, str(exc)
    if isinstance(exc, ClientError) and _is_permanent(exc):
        return "photo_missing", "the photo is no longer in object storage"
    return "internal_error", f"{type(exc).__name__}: {exc}"[:500]
