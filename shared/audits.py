"""Submitting audits: the domain behind ``POST /v1/audits``.

``submit_audit`` validates every photo before anything is stored, then, in one
transaction, inserts the audit and its jobs, puts the photos in object storage and
commits. The rows come first so that a concurrent request with the same Idempotency-Key
stops at the unique index before it stores anything, and a failed put rolls the rows
back (and deletes the photos already put). The caller enqueues the job ids only after
the commit (``commit, then enqueue``).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shared import stores
from shared.errors import FieldProblem, Invalid, OverQuota, TooLarge, UnsupportedMedia
from shared.events import audit_event, record_event
from shared.imaging import PhotoError, read_header
from shared.models import Audit, AuditStatus, Job, JobStatus
from shared.registry import DEFAULT_MODE, MODES
from shared.settings import Settings
from shared.storage import PhotoStore

# store_id becomes part of an object key: letters, digits, '.', '_', '-' only
STORE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_STORE_ID = re.compile(STORE_ID_PATTERN.rstrip("$"))
AISLE_MAX = 64
IDEMPOTENCY_KEY_MAX = 128
# a photo's capture time must be plausible: a wrong phone clock must not reach the database
EARLIEST_CAPTURE = datetime(2000, 1, 1, tzinfo=UTC)
CAPTURE_SLACK = timedelta(days=1)


@dataclass
class Submission:
    audit_id: uuid.UUID
    job_ids: list[uuid.UUID]
    created: bool  # False when an Idempotency-Key matched an earlier audit
    queued: list[tuple[uuid.UUID, str]] = field(default_factory=list)  # (job, queue) still to enqueue


PhotoSource = bytes | Callable[[], bytes]  # a photo, or a reader of one upload (read when needed, then dropped)


def _read(photo: PhotoSource) -> bytes:
    return photo if isinstance(photo, bytes) else photo()


@dataclass(frozen=True)
class CheckedPhoto:
    content_type: str
    width: int
    height: int
    size: int
    sha256: str


def check_photos(photos: Sequence[PhotoSource], settings: Settings) -> list[CheckedPhoto]:
    """Check every upload from its header alone, one photo in memory at a time.

    Every problem of every photo is reported at once. The error's class (and so the HTTP
    status) is the gravest one found: too large, then unsupported, then unreadable.
    """
    if not photos:
        raise Invalid.one("photos", "no_photos", "send one or more files in the multipart field 'photos'")
    if len(photos) > settings.max_photos_per_audit:
        raise TooLarge("too_many_photos", f"at most {settings.max_photos_per_audit} photos per audit")
    checked: list[CheckedPhoto] = []
    large: list[FieldProblem] = []
    media: list[FieldProblem] = []
    other: list[FieldProblem] = []
    for i, source in enumerate(photos):
        where = f"photos[{i}]"
        data = _read(source)
        if not data:
            other.append(FieldProblem(where, "photo_empty", f"{where} is empty"))
            continue
        if len(data) > settings.max_photo_bytes:
            large.append(FieldProblem(where, "photo_too_large",
                                      f"{where} is {len(data)} bytes; the limit is {settings.max_photo_bytes}"))
            continue
        try:
            header = read_header(data)
        except PhotoError as exc:
            (media if exc.code == "unsupported_media_type" else other).append(
                FieldProblem(where, exc.code, f"{where}: {exc}"))
            continue
        if header.width * header.height > settings.max_photo_pixels:
            large.append(FieldProblem(where, "photo_too_many_pixels", f"{where} is {header.width}x{header.height}; "
                                      f"the limit is {settings.max_photo_pixels} pixels"))
            continue
        checked.append(CheckedPhoto(header.content_type, header.width, header.height, len(data),
                                    hashlib.sha256(data).hexdigest()))
    raise_gravest(large, media, other)
    return checked


def raise_gravest(large: list[FieldProblem], media: list[FieldProblem], other: list[FieldProblem]) -> None:
    """Every photo problem at once, as the gravest one's error: too large (413), then an
    unsupported type (415), then the rest (422). Nothing to raise when all are empty."""
    problems = large + media + other
    if large:
        raise TooLarge.with_problems(problems)
    if media:
        raise UnsupportedMedia.with_problems(problems)
    if other:
        raise Invalid(problems)


def check_fields(store_id: str, aisle: str | None, captured_at: datetime | None, mode: str | None,
                 idempotency_key: str | None, now: datetime | None = None) -> list[FieldProblem]:
    """Every problem with the audit's fields (the gateway's schema checks the same first)."""
    problems = []
    if not _STORE_ID.fullmatch(store_id or ""):
        problems.append(FieldProblem("store_id", "invalid_store_id", "store_id: 1-64 letters, digits, '.', '_' "
                                     "or '-', starting with a letter or digit"))
    if aisle is not None and (not aisle or len(aisle) > AISLE_MAX or not aisle.isprintable()):
        problems.append(FieldProblem("aisle", "invalid_aisle", f"aisle: 1-{AISLE_MAX} printable characters"))
    if captured_at is not None:
        latest = (now or datetime.now(UTC)) + CAPTURE_SLACK
        if captured_at.tzinfo is None or not EARLIEST_CAPTURE <= captured_at <= latest:
            problems.append(FieldProblem("captured_at", "invalid_captured_at",
                                         "captured_at: an ISO 8601 time with its UTC offset, "
                                         "between 2000-01-01 and tomorrow"))
    if mode is not None and mode not in MODES:
        problems.append(FieldProblem("mode", "invalid_mode", f"mode: one of {', '.join(MODES)}"))
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= IDEMPOTENCY_KEY_MAX:
        problems.append(FieldProblem("Idempotency-Key", "invalid_idempotency_key",
                                     f"Idempotency-Key: 1-{IDEMPOTENCY_KEY_MAX} characters"))
    return problems


def submit_audit(factory: sessionmaker[Session], store: PhotoStore, settings: Settings, *, tenant_id: str,
                 store_id: str, aisle: str | None, captured_at: datetime | None, idempotency_key: str | None,
                 photos: Sequence[PhotoSource], mode: str | None = None, request_id: str | None = None) -> Submission:
    """Store one audit: its rows and photos in one go, or nothing. Photos may be readers of the
    uploads (the gateway's spooled files): each is read twice (checked, then stored), never all at once."""
    problems = check_fields(store_id, aisle, captured_at, mode, idempotency_key)
    if problems:
        raise Invalid(problems)
    checked = check_photos(photos, settings)
    mode = mode or DEFAULT_MODE
    digests = [c.sha256 for c in checked]
    request_hash = hashlib.sha256(
        "\n".join([store_id, aisle or "", captured_at.isoformat() if captured_at else "", mode, *digests]).encode()
    ).hexdigest()

    if idempotency_key:
        earlier = _find_by_key(factory, tenant_id, idempotency_key, request_hash)
        if earlier:
            return earlier

    check_quota(factory, tenant_id, len(photos), settings.quota_photos_per_day)
    audit_id = uuid.uuid4()
    job_ids = [uuid.uuid4() for _ in photos]
    day = captured_at or datetime.now(UTC)
    keys = [PhotoStore.key_for(tenant_id, store_id, day, str(j), c.content_type)
            for j, c in zip(job_ids, checked, strict=True)]
    put: list[str] = []
    try:
        with factory() as session, session.begin():
            session.add(Audit(id=audit_id, tenant_id=tenant_id, store_id=store_id, aisle=aisle,
                              captured_at=captured_at, idempotency_key=idempotency_key,
                              request_hash=request_hash, status=AuditStatus.QUEUED))
            session.flush()  # a concurrent request with the same key stops here, before any put
            for i, (job_id, key, c) in enumerate(zip(job_ids, keys, checked, strict=True)):
                session.add(Job(id=job_id, tenant_id=tenant_id, audit_id=audit_id, position=i, photo_key=key,
                                photo_sha256=c.sha256, photo_bytes=c.size, width=c.width, height=c.height,
                                queue="audits", mode=mode, status=JobStatus.QUEUED, request_id=request_id))
            session.flush()
            for key, source, c in zip(keys, photos, checked, strict=True):
                store.put(key, _read(source), c.content_type)
                put.append(key)
    except IntegrityError:
        forget_photos(store, put)
        # the same Idempotency-Key committed by a concurrent request: answer with that audit
        if idempotency_key:
            earlier = _find_by_key(factory, tenant_id, idempotency_key, request_hash)
            if earlier:
                return earlier
        raise
    except BaseException:
        forget_photos(store, put)  # rolled back: no row points at these photos
        raise
    return Submission(audit_id, job_ids, created=True, queued=[(j, "audits") for j in job_ids])


def check_quota(factory: sessionmaker[Session], tenant_id: str, photos: int, per_day: int,
                now: datetime | None = None) -> None:
    """``OverQuota`` if these photos would take the tenant past ``per_day`` photos this UTC day (0: no quota).

    Counted in Postgres, the truth; two requests racing at the edge may both pass (by at
    most one audit's photos), which a daily allowance tolerates.
    """
    if not per_day:
        return
    now = now or datetime.now(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with factory() as session:
        used = session.execute(select(func.count()).select_from(Job)
                               .where(Job.tenant_id == tenant_id, Job.queued_at >= day)).scalar() or 0
    if used + photos > per_day:
        raise OverQuota("quota_exceeded", f"{used} of today's {per_day} photos are used; these {photos} would pass "
                        "the daily quota (it resets at midnight UTC)",
                        retry_after_s=int((day + timedelta(days=1) - now).total_seconds()) + 1)


def forget_photos(store: PhotoStore, keys: list[str]) -> None:
    """Delete photos no row points at (a failed submit, an expired upload); best effort."""
    for key in keys:
        with contextlib.suppress(Exception):  # best effort: the request is failing anyway
            store.delete(key)


def _find_by_key(factory: sessionmaker[Session], tenant_id: str, key: str, request_hash: str) -> Submission | None:
    with factory() as session:
        audit = session.execute(
            select(Audit).where(Audit.tenant_id == tenant_id, Audit.idempotency_key == key)
        ).scalar_one_or_none()
        if audit is None:
            return None
        if audit.request_hash != request_hash:
            raise Invalid.one("Idempotency-Key", "idempotency_key_reused",
                              "this Idempotency-Key was used for a different request")
        jobs = session.execute(select(Job.id, Job.queue, Job.status).where(Job.audit_id == audit.id)
                               .order_by(Job.position)).all()
        # jobs still queued are sent again: the first request may have failed to enqueue them
        # (broker down); a duplicate message costs the worker one skipped lookup
        return Submission(audit.id, [j.id for j in jobs], created=False,
                          queued=[(j.id, j.queue) for j in jobs if j.status == JobStatus.QUEUED])


# --- an audit's status, kept with its jobs ------------------------------------------------

_AUDIT_STATUS = text("""
    UPDATE audits SET status = s.status, finished_at = s.finished_at FROM (
        SELECT audit_id,
               CASE WHEN count(*) FILTER (WHERE status IN ('queued', 'running')) > 0 THEN
                        CASE WHEN count(*) FILTER (WHERE status <> 'queued') > 0 THEN 'running' ELSE 'queued' END
                    WHEN count(*) FILTER (WHERE status = 'failed') = count(*) THEN 'failed'
                    WHEN count(*) FILTER (WHERE status = 'failed') > 0 THEN 'partial'
                    ELSE 'done' END AS status,
               CASE WHEN count(*) FILTER (WHERE status IN ('queued', 'running')) = 0
                    THEN max(finished_at) END AS finished_at
        FROM jobs WHERE audit_id = ANY(:ids) GROUP BY audit_id) AS s
    WHERE audits.id = s.audit_id AND audits.status IS DISTINCT FROM s.status
    RETURNING audits.id, audits.status
""")


@dataclass
class StatusChanges:
    statuses: dict[uuid.UUID, str] = field(default_factory=dict)  # audits whose status changed
    deliveries: list[uuid.UUID] = field(default_factory=list)  # webhook deliveries the changes created


def refresh_audit_status(session: Session, audit_ids: set[uuid.UUID], public_url: str = "") -> StatusChanges:
    """Recompute the status of these audits from their jobs, inside the caller's transaction.

    The audits are locked first (in id order, so two batches never deadlock): a batch that
    finishes the other jobs of the same audit waits for this commit, and its own statement
    then sees them. Without the lock, two batches finishing an audit's last two jobs at
    once would each see the other's job running and leave the audit ``running`` forever.
    An audit that just finished gets its event (``audit.completed`` or ``audit.failed``)
    in the same transaction: the outbox.
    """
    changes = StatusChanges()
    if not audit_ids:
        return changes
    ids = sorted(audit_ids)
    session.execute(select(Audit.id).where(Audit.id.in_(ids)).order_by(Audit.id).with_for_update())
    changes.statuses = {row.id: row.status for row in session.execute(_AUDIT_STATUS, {"ids": ids})}
    for audit_id, status in changes.statuses.items():
        if status in AuditStatus.FINAL:
            changes.deliveries += stores.audit_finished(session, audit_id)  # facings, stock status, stock.low
            tenant_id, type_, data = audit_event(session, audit_id, public_url)
            changes.deliveries += record_event(session, tenant_id, type_, data).deliveries
    return changes


def expected_wait_s(session: Session, queue: str, window_s: int = 600) -> int:
    """A polling hint: the median time recent jobs of ``queue`` took from queued to finished.

    Clamped to 1-60 s; 1 s when nothing finished recently (an idle farm answers fast).
    """
    since = datetime.now(UTC) - timedelta(seconds=window_s)
    median = session.execute(
        select(func.percentile_cont(0.5).within_group(func.extract("epoch", Job.finished_at - Job.queued_at)))
        .where(Job.queue == queue, Job.finished_at > since)
    ).scalar()
    return max(1, min(60, round(float(median)))) if median is not None else 1
