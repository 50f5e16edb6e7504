"""Audit and job routes: submit, poll, list, the photo and the annotated photo."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from flask import Response, g, jsonify, url_for
from flask_openapi3 import FileStorage, OpenAPI, Tag

from api.contract import problem_response, route
from api.schemas import (
    AuditAccepted,
    AuditList,
    AuditOut,
    AuditPath,
    AuditQuery,
    JobList,
    JobOut,
    JobPath,
    JobQuery,
    PhotoQuery,
    RecentJobList,
    RecentJobsQuery,
    SubmitForm,
    SubmitHeaders,
    UploadBegin,
    UploadStarted,
)
from api.services import Services, principal
from shared import uploads, views
from shared.annotate import annotated_jpeg, jpeg, scaled
from shared.audits import Submission, expected_wait_s, submit_audit
from shared.celery_app import enqueue
from shared.errors import Conflict, Unavailable
from shared.metrics import PHOTOS_SUBMITTED
from shared.models import AuditStatus, JobStatus

log = logging.getLogger("shelfwatch.api")
AUDITS = Tag(name="audits", description="submit shelf photos and follow them")
JOBS = Tag(name="jobs", description="one photo's result")
_RETRY = {"description": "seconds until the next poll is worth making", "schema": {"type": "integer"}}
JPEG = {"description": "the photo (at most 1600 px on its long side) with its boxes drawn",
        "content": {"image/jpeg": {}}}  # OpenAPI 3.1: binary content has no schema
PHOTO = {"description": "the photo as a JPEG, upright (EXIF rotation applied), without its metadata, at most "
                        "`max_side` (default 1600) px on its long side; boxes scale by `width / photo.width`",
         "content": {"image/jpeg": {}},
         "headers": {"Cache-Control": {"description": "a job's photo never changes", "schema": {"type": "string"}}}}


class WaitHint:
    """``Retry-After`` for pollers: the recent queue-to-finish time, read at most every 5 s."""

    def __init__(self, services: Services, ttl_s: float = 5.0):
        self.services, self.ttl_s = services, ttl_s
        self._value, self._at = 1, -ttl_s

    def seconds(self) -> int:
        now = time.monotonic()
        if now - self._at >= self.ttl_s:
            with self.services.factory() as session:
                self._value = expected_wait_s(session, "audits")
            self._at = now
        return self._value

    def answer(self, view: dict, finished: bool) -> Response:
        """The view as JSON; with ``Retry-After`` while the thing is not finished."""
        resp = jsonify(view)
        if not finished:
            resp.headers["Retry-After"] = str(self.seconds())
        return resp


def reader(upload: FileStorage) -> Callable[[], bytes]:
    """Reads one upload from its spooled file each time it is called (never kept in memory)."""
    def read() -> bytes:
        upload.stream.seek(0)
        return upload.stream.read()
    return read


def register(app: OpenAPI, services: Services) -> None:
    hint = WaitHint(services)

    @route(app, "post", "/v1/audits", "submit", ok={202: AuditAccepted, 200: AuditAccepted},
           errors=(413, 422, 503), consumes="multipart/form-data", tags=[AUDITS], summary="Submit an audit",
           description="One audit of one store section: 1..N shelf photos. Answers 202 with the audit's "
                       "URL and each job's; 200 (`replayed: true`) when the Idempotency-Key matched an "
                       "earlier audit.")
    def submit(form: SubmitForm, header: SubmitHeaders) -> tuple[Response, int, dict[str, str]]:
        sub = submit_audit(
            services.factory, services.store, services.settings, tenant_id=principal().tenant_id,
            store_id=form.store_id, aisle=form.aisle, captured_at=form.captured_at,
            idempotency_key=header.idempotency_key, photos=[reader(f) for f in form.photos], mode=form.mode,
            request_id=g.get("request_id"))
        return accepted(sub, "send the same request again with the same Idempotency-Key")

    def accepted(sub: Submission, resend: str) -> tuple[Response, int, dict[str, str]]:
        """Enqueue a committed audit's jobs and answer 202 (200 when nothing new was made)."""
        try:
            for job_id, queue in sub.queued:  # only after the audit and its jobs are committed
                enqueue(services.celery, str(job_id), queue=queue)
        except Exception as exc:
            # the audit is committed: resending enqueues its jobs again, and the reaper would find them anyway
            raise Unavailable("broker_unavailable", f"the audit is stored but its photos could not be queued; "
                              f"{resend}", retry_after_s=5) from exc
        if sub.created:
            PHOTOS_SUBMITTED.inc(len(sub.job_ids))
            log.info("audit %s accepted: %d photos", sub.audit_id, len(sub.job_ids))
        url = url_for("get_audit", audit_id=str(sub.audit_id), _external=True)
        body = {"audit_id": str(sub.audit_id), "url": url, "status_url": url,
                "jobs": [{"id": str(j), "url": url_for("get_job", job_id=str(j), _external=True)}
                         for j in sub.job_ids],
                "job_ids": [str(j) for j in sub.job_ids], "replayed": not sub.created}
        return jsonify(body), 202 if sub.created else 200, {"Location": url, "Retry-After": str(hint.seconds())}

    @route(app, "post", "/v1/uploads", "submit", ok={201: UploadStarted, 200: UploadStarted},
           errors=(413, 422, 503), consumes="application/json", tags=[AUDITS],
           summary="Begin an audit whose photos go straight to S3",
           description="Declare each photo's type, size and SHA-256; the answer has a presigned PUT URL per "
                       "photo (signed for exactly those), valid until `expires_at`. PUT each photo to its URL "
                       "with the headers given, then `POST` the `confirm_url`: the gateway checks every object "
                       "and queues the jobs. The photos never pass through the gateway. 200 (`replayed`) with "
                       "fresh URLs when the Idempotency-Key matched an earlier request.")
    def begin_upload(body: UploadBegin, header: SubmitHeaders) -> tuple[Response, int, dict[str, str]]:
        up = uploads.begin_upload(
            services.factory, services.store, services.settings, tenant_id=principal().tenant_id,
            store_id=body.store_id, aisle=body.aisle, captured_at=body.captured_at, mode=body.mode,
            idempotency_key=header.idempotency_key, request_id=g.get("request_id"),
            photos=[uploads.Declared(p.content_type, p.size, p.sha256) for p in body.photos])
        url = url_for("get_audit", audit_id=str(up.audit_id), _external=True)
        out = {"audit_id": str(up.audit_id), "url": url, "expires_at": up.expires_at.isoformat(),
               "confirm_url": url_for("confirm_upload", audit_id=str(up.audit_id), _external=True),
               "uploads": [{"job_id": str(t.job_id), "position": t.position, "method": "PUT", "url": t.url,
                            "headers": t.headers} for t in up.targets],
               "replayed": not up.created}
        return jsonify(out), 201 if up.created else 200, {"Location": url}

    @route(app, "post", "/v1/audits/<audit_id>/confirm", "submit", ok={202: AuditAccepted, 200: AuditAccepted},
           errors=(404, 409, 413, 422, 503), tags=[AUDITS], summary="Confirm a direct upload: queue its photos",
           description="Every photo of the audit is checked in the bucket against its declaration (there, "
                       "its size and SHA-256; a readable JPEG, PNG or WebP within the pixel limit); every "
                       "problem is listed at once (`photo_not_uploaded`, `photo_size_mismatch`, "
                       "`photo_checksum_mismatch`, …) and nothing is queued until all are right. 202 when "
                       "queued; 200 (`replayed`) for an audit confirmed already; 409 `upload_expired` after "
                       "`UPLOAD_EXPIRY_S`.")
    def confirm_upload(path: AuditPath) -> tuple[Response, int, dict[str, str]]:
        sub = uploads.confirm_upload(services.factory, services.store, services.settings, principal().tenant_id,
                                     path.audit_id)
        return accepted(sub, "confirm again")

    @route(app, "get", "/v1/audits", "read", ok={200: AuditList}, errors=(422,), tags=[AUDITS],
           summary="List audits", description="Newest first; pass `next_cursor` back as `cursor` for the "
                                              "next page.")
    def list_audits(query: AuditQuery) -> Response:
        with services.factory() as session:
            items, cursor = views.list_audits(
                session, principal().tenant_id, store_id=query.store_id, status=query.status, since=query.since,
                until=query.until, limit=query.limit, cursor=query.cursor)
        return jsonify({"items": items, "next_cursor": cursor})

    @route(app, "get", "/v1/audits/<audit_id>", "read", ok={200: AuditOut}, errors=(404,), tags=[AUDITS],
           summary="An audit: status, progress, summed counts and each job")
    def get_audit(path: AuditPath) -> Response:
        with services.factory() as session:
            audit = views.audit_view(session, principal().tenant_id, path.audit_id)
        return hint.answer(audit, finished=audit["status"] in AuditStatus.FINAL)

    @route(app, "get", "/v1/audits/<audit_id>/jobs", "read", ok={200: JobList}, errors=(404,), tags=[AUDITS],
           summary="The jobs of an audit, in photo order")
    def audit_jobs(path: AuditPath) -> Response:
        with services.factory() as session:
            audit = views.get_audit(session, principal().tenant_id, path.audit_id)
            return jsonify({"items": views.jobs_of(session, audit)})

    @route(app, "get", "/v1/jobs/<job_id>", "read", ok={200: JobOut}, errors=(404, 422), tags=[JOBS],
           summary="A job: status, counts, detections, timings",
           description="The result of the version that served the job; `?model_version=` shows another's "
                       "(a re-scan's), side by side, never overwritten.")
    def get_job(path: JobPath, query: JobQuery) -> Response:
        with services.factory() as session:
            job = views.job_with_detections(session, principal().tenant_id, path.job_id, query.model_version)
        return hint.answer(job, finished=job["status"] in JobStatus.FINAL)

    @route(app, "get", "/v1/jobs/<job_id>/annotated.jpg", "read",
           ok={200: JPEG, 409: problem_response(409, Retry_After=_RETRY)}, errors=(404,), tags=[JOBS],
           summary="The photo with its detections drawn")
    def annotated(path: JobPath) -> Response:
        with services.factory() as session:
            job = views.job_with_detections(session, principal().tenant_id, path.job_id)
            photo_key = views.get_job(session, principal().tenant_id, path.job_id).photo_key
        if job["status"] != JobStatus.DONE:
            raise Conflict("job_not_done", f"job {path.job_id} is {job['status']}; its photo has no boxes yet",
                           retry_after_s=hint.seconds() if job["status"] not in JobStatus.FINAL else None)
        boxes = [tuple(d["box"]) for d in job.get("detections", [])]
        gaps = [tuple(g["box"]) for g in (job.get("analytics") or {}).get("gaps", [])]
        return Response(annotated_jpeg(services.store.get(photo_key), boxes, gaps=gaps), mimetype="image/jpeg")

    @route(app, "get", "/v1/jobs", "read", ok={200: RecentJobList}, errors=(422,), tags=[JOBS],
           summary="Recent jobs, newest first: status, counts and timings",
           description="Each with its audit's store and aisle; pages through `cursor`.")
    def recent_jobs(query: RecentJobsQuery) -> Response:
        with services.factory() as session:
            items, cursor = views.recent_jobs(session, principal().tenant_id, status=query.status,
                                              store_id=query.store_id, limit=query.limit, cursor=query.cursor)
        return jsonify({"items": items, "next_cursor": cursor})

    @route(app, "get", "/v1/jobs/<job_id>/photo", "read", ok={200: PHOTO}, errors=(404, 422), tags=[JOBS],
           summary="The photo of a job (a thumbnail with `max_side`)")
    def photo(path: JobPath, query: PhotoQuery) -> Response:
        with services.factory() as session:
            photo_key = views.get_job(session, principal().tenant_id, path.job_id).photo_key
        image, _ = scaled(services.store.get(photo_key), query.max_side or 1600)
        resp = Response(jpeg(image, quality=80 if query.max_side and query.max_side <= 400 else 85),
                        mimetype="image/jpeg")
        resp.headers["Cache-Control"] = "private, max-age=86400, immutable"
        return resp
