"""Direct uploads: the phone puts its photos straight into S3, and the gateway never sees them.

``begin_upload`` (``POST /v1/uploads``) takes the audit's fields and, for each photo, its
type, size and SHA-256; it stores the audit and its jobs as ``awaiting_upload`` and answers
a presigned PUT URL per photo, signed for exactly that type, size and checksum.
``confirm_upload`` (``POST /v1/audits/{id}/confirm``) checks each object in the bucket
against what was declared, then queues the jobs, like a multipart submit. The checksum
comes from S3 itself where the server keeps one (AWS, asked for it by the signed
``x-amz-checksum-sha256`` header, refuses a body that does not match it), and the gateway
reads no photo, only its first 256 KiB for the format and pixel size; where the server
keeps none (a local S3-API server), the worker hashes the photo it fetches anyway and fails
a job whose photo is not the one declared (``photo_checksum_mismatch``). An audit not confirmed within
``UPLOAD_EXPIRY_S`` fails (``upload_expired``) and its uploaded photos are deleted.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shared.audits import (
    Submission,
    check_fields,
    check_quota,
    forget_photos,
    raise_gravest,
    refresh_audit_status,
)
from shared.errors import Conflict, FieldProblem, Invalid, NotFound, TooLarge
from shared.imaging import PhotoError, read_header
from shared.models import Audit, AuditStatus, Job, JobStatus
from shared.registry import DEFAULT_MODE
from shared.settings import Settings
from shared.storage import EXTENSIONS, PhotoStore

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Declared:
    """What the client says a photo is, before it uploads it."""

    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Target:
    job_id: uuid.UUID
    position: int
    url: str
    headers: dict[str, str]


@dataclass
class Upload:
    audit_id: uuid.UUID
    targets: list[Target]  # one per photo still to upload, in photo order
    expires_at: datetime  # of the URLs
    created: bool  # False when an Idempotency-Key matched an earlier upload


def check_declared(photos: list[Declared], settings: Settings) -> None:
    """Every problem with the declared photos at once (the same limits as a multipart submit)."""
    if not photos:
        raise Invalid.one("photos", "no_photos", "declare one or more photos")
    if len(photos) > settings.max_photos_per_audit:
        raise TooLarge("too_many_photos", f"at most {settings.max_photos_per_audit} photos per audit")
    large, media, other = [], [], []
    for i, p in enumerate(photos):
        where = f"photos[{i}]"
        if p.content_type not in EXTENSIONS:
            media.append(FieldProblem(f"{where}.content_type", "unsupported_media_type",
                                      f"{where}: {p.content_type!r} is not image/jpeg, image/png or image/webp"))
        if p.size > settings.max_photo_bytes:
            large.append(FieldProblem(f"{where}.size", "photo_too_large",
                                      f"{where} is {p.size} bytes; the limit is {settings.max_photo_bytes}"))
        elif p.size < 1:
            other.append(FieldProblem(f"{where}.size", "photo_empty", f"{where} is empty"))
        if not _SHA256.fullmatch(p.sha256):
            other.append(FieldProblem(f"{where}.sha256", "invalid_sha256", f"{where}.sha256: 64 lowercase hex digits"))
    raise_gravest(large, media, other)


def _request_hash(store_id: str, aisle: str | None, captured_at: datetime | None, mode: str,
                  photos: list[Declared]) -> str:
    parts = ["direct", store_id, aisle or "", captured_at.isoformat() if captured_at else "", mode]
    parts += [f"{p.content_type} {p.size} {p.sha256}" for p in photos]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def begin_upload(factory: sessionmaker[Session], store: PhotoStore, settings: Settings, *, tenant_id: str,
                 store_id: str, aisle: str | None, captured_at: datetime | None, mode: str | None,
                 idempotency_key: str | None, photos: list[Declared], request_id: str | None = None) -> Upload:
    """The audit and its jobs, awaiting their photos; a presigned PUT URL for each."""
    problems = check_fields(store_id, aisle, captured_at, mode, idempotency_key)
    if problems:
        raise Invalid(problems)
    check_declared(photos, settings)
    mode = mode or DEFAULT_MODE
    request_hash = _request_hash(store_id, aisle, captured_at, mode, photos)
    if idempotency_key:
        earlier = _earlier(factory, store, settings, tenant_id, idempotency_key, request_hash)
        if earlier:
            return earlier
    check_quota(factory, tenant_id, len(photos), settings.quota_photos_per_day)
    audit_id = uuid.uuid4()
    day = captured_at or datetime.now(UTC)
    jobs = [Job(id=(job_id := uuid.uuid4()), tenant_id=tenant_id, audit_id=audit_id, position=i,
                photo_key=PhotoStore.key_for(tenant_id, store_id, day, str(job_id), p.content_type),
                photo_sha256=p.sha256, photo_bytes=p.size, width=None, height=None, queue="audits", mode=mode,
                status=JobStatus.AWAITING_UPLOAD, request_id=request_id)
            for i, p in enumerate(photos)]
    try:
        with factory() as session, session.begin():
            session.add(Audit(id=audit_id, tenant_id=tenant_id, store_id=store_id, aisle=aisle,
                              captured_at=captured_at, idempotency_key=idempotency_key, request_hash=request_hash,
                              status=AuditStatus.AWAITING_UPLOAD))
            session.flush()  # a concurrent request with the same key stops here
            session.add_all(jobs)
    except IntegrityError:
        earlier = _earlier(factory, store, settings, tenant_id, idempotency_key, request_hash) \
            if idempotency_key else None
        if earlier:
            return earlier
        raise
    return Upload(audit_id, _targets(store, settings, jobs), _expiry(settings), created=True)


def _expiry(settings: Settings) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=settings.upload_url_ttl_s)


def _targets(store: PhotoStore, settings: Settings, jobs: list[Job]) -> list[Target]:
    out = []
    for job in jobs:
        content_type = next(t for t, ext in EXTENSIONS.items() if job.photo_key.endswith("." + ext))
        url, headers = store.presign_put(job.photo_key, content_type, job.photo_bytes, job.photo_sha256,
                                         settings.upload_url_ttl_s)
        out.append(Target(job.id, job.position, url, headers))
    return out


def _earlier(factory: sessionmaker[Session], store: PhotoStore, settings: Settings, tenant_id: str, key: str,
             request_hash: str) -> Upload | None:
    """The upload this Idempotency-Key began, with fresh URLs for the photos it still awaits."""
    with factory() as session:
        audit = session.execute(select(Audit).where(Audit.tenant_id == tenant_id, Audit.idempotency_key == key)
                                ).scalar_one_or_none()
        if audit is None:
            return None
        if audit.request_hash != request_hash:
            raise Invalid.one("Idempotency-Key", "idempotency_key_reused",
                              "this Idempotency-Key was used for a different request")
        waiting = list(session.execute(select(Job).where(Job.audit_id == audit.id,
                                                         Job.status == JobStatus.AWAITING_UPLOAD)
                                       .order_by(Job.position)).scalars())
        return Upload(audit.id, _targets(store, settings, waiting), _expiry(settings), created=False)


HEADER_BYTES = 256 * 1024  # enough of any photo to find its format and size (a JPEG's EXIF comes first)


def _check_object(store: PhotoStore, settings: Settings, job: Job, where: str
                  ) -> tuple[list[FieldProblem], int, int, bool]:
    """One uploaded photo against its declaration: its problems, width, height, and whether
    its SHA-256 was checked here (S3 kept a checksum) or is left to the worker."""
    found = store.head(job.photo_key)
    if found is None:
        return [FieldProblem(where, "photo_not_uploaded",
                             f"{where} is not in the bucket yet: PUT it to its URL")], 0, 0, False
    if found["size"] != job.photo_bytes:
        return [FieldProblem(where, "photo_size_mismatch",
                             f"{where} is {found['size']} bytes; {job.photo_bytes} were declared")], 0, 0, False
    if found["sha256"] is not None and found["sha256"] != job.photo_sha256:
        return [FieldProblem(where, "photo_checksum_mismatch",
                             f"{where}'s SHA-256 is not the one declared")], 0, 0, False
    try:
        header = read_header(store.get_prefix(job.photo_key, HEADER_BYTES))
    except PhotoError as exc:
        code = "photo_type_mismatch" if exc.code == "unsupported_media_type" else exc.code
        return [FieldProblem(where, code, f"{where}: {exc}")], 0, 0, False
    problems = []
    if not job.photo_key.endswith("." + EXTENSIONS[header.content_type]):
        problems.append(FieldProblem(where, "photo_type_mismatch",
                                     f"{where} is {header.content_type}, not the type declared"))
    if header.width * header.height > settings.max_photo_pixels:
        problems.append(FieldProblem(where, "photo_too_many_pixels", f"{where} is {header.width}x{header.height}; "
                                     f"the limit is {settings.max_photo_pixels} pixels"))
    return problems, header.width, header.height, found["sha256"] is not None


def confirm_upload(factory: sessionmaker[Session], store: PhotoStore, settings: Settings, tenant_id: str,
                   audit_id: str) -> Submission:
    """Check every uploaded photo, then queue the audit's jobs (the caller enqueues them after this commit).

    Every photo's problems are reported at once and nothing is queued until all are right:
    the client uploads again to the same URLs (or fresh ones from its Idempotency-Key) and
    confirms again. Confirming a confirmed audit changes nothing (``created`` False).
    """
    try:
        parsed = uuid.UUID(audit_id)
    except ValueError as exc:
        raise NotFound("audit_not_found", f"no audit {audit_id}") from exc
    with factory() as session:
        audit = session.get(Audit, parsed)
        if audit is None or audit.tenant_id != tenant_id:
            raise NotFound("audit_not_found", f"no audit {audit_id}")
        jobs = list(session.execute(select(Job).where(Job.audit_id == audit.id).order_by(Job.position)).scalars())
        if audit.status != AuditStatus.AWAITING_UPLOAD:
            if audit.status == AuditStatus.FAILED and all(j.failure_code == "upload_expired" for j in jobs):
                raise Conflict("upload_expired", f"audit {audit_id} was not confirmed in time; begin a new one")
            return Submission(audit.id, [j.id for j in jobs], created=False,
                              queued=[(j.id, j.queue) for j in jobs if j.status == JobStatus.QUEUED])
    problems: list[FieldProblem] = []
    sizes: dict[uuid.UUID, tuple[int, int]] = {}
    checked: dict[uuid.UUID, bool] = {}
    for job in jobs:
        found, width, height, checked[job.id] = _check_object(store, settings, job, f"photos[{job.position}]")
        problems += found
        sizes[job.id] = (width, height)
    raise_gravest([p for p in problems if p.code == "photo_too_many_pixels"], [],
                  [p for p in problems if p.code != "photo_too_many_pixels"])
    now = datetime.now(UTC)
    with factory() as session, session.begin():
        audit = session.get(Audit, parsed, with_for_update=True)
        if audit is None or audit.status != AuditStatus.AWAITING_UPLOAD:  # a concurrent confirm won
            return Submission(parsed, [j.id for j in jobs], created=False)
        for job in session.execute(select(Job).where(Job.audit_id == parsed)).scalars():
            job.width, job.height = sizes[job.id]
            job.status, job.queued_at = JobStatus.QUEUED, now
            job.photo_checksum_pending = not checked[job.id]
        audit.status = AuditStatus.QUEUED
    return Submission(parsed, [j.id for j in jobs], created=True, queued=[(j.id, j.queue) for j in jobs])


def expire_uploads(factory: sessionmaker[Session], store: PhotoStore, older_than_s: float,
                   now: datetime | None = None, public_url: str = "") -> list[uuid.UUID]:
    """Fail the audits still awaiting their photos after ``older_than_s``; delete what was uploaded.

    Their jobs fail with ``upload_expired``, so the audit ends ``failed`` and its
    ``audit.failed`` event goes out like any other. Returns the webhook deliveries made.
    """
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=older_than_s)
    with factory() as session, session.begin():
        ids = set(session.execute(select(Audit.id).where(Audit.status == AuditStatus.AWAITING_UPLOAD,
                                                         Audit.created_at < cutoff)
                                  .with_for_update(skip_locked=True)).scalars())
        if not ids:
            return []
        keys = list(session.execute(
            update(Job).where(Job.audit_id.in_(ids)).values(
                status=JobStatus.FAILED, failure_code="upload_expired", finished_at=datetime.now(UTC),
                failure_reason="the photo was not uploaded and confirmed in time").returning(Job.photo_key)
        ).scalars())
        # out of awaiting_upload, so the status refresh judges each audit from its (failed) jobs
        session.execute(update(Audit).where(Audit.id.in_(ids)).values(status=AuditStatus.QUEUED))
        deliveries = refresh_audit_status(session, ids, public_url).deliveries
    forget_photos(store, keys)
    return deliveries
