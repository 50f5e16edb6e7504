"""Every error the gateway answers, in one shape: RFC 9457 ``application/problem+json``.

The one place where domain errors become HTTP statuses. A problem carries ``type``,
``title``, ``status``, ``detail``, the stable ``code`` clients branch on, and ``errors``:
every problem with the request's fields at once. Headers the HTTP semantics ask for go
with it: ``WWW-Authenticate`` on 401, ``Allow`` on 405, ``Retry-After`` on 429 and 503.
"""

from __future__ import annotations

from typing import Any

from flask import Response, json
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from shared.errors import (
    Conflict,
    DomainError,
    FieldProblem,
    Invalid,
    NotFound,
    OverQuota,
    TooLarge,
    Unavailable,
    UnsupportedMedia,
)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://shelfwatch.dev/problems/"

STATUS_OF: dict[type[DomainError], int] = {
    NotFound: 404, Invalid: 422, Conflict: 409, TooLarge: 413, UnsupportedMedia: 415, OverQuota: 429,
    Unavailable: 503,
}
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 413: "Content too large", 415: "Unsupported media type", 422: "Unprocessable content",
          429: "Too many requests", 500: "Internal server error", 503: "Service unavailable"}
# the stable codes of errors Werkzeug raises before a view runs
HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "request_too_large",
              415: "unsupported_media_type"}

# Every code the API answers with, its status and what it means. The spec lists them as the
# enum of Problem.code (with the invalid_<field>/missing_<field> codes of each request
# schema), so a response with an unlisted code fails the contract tests; the README's
# table is generated from here.
ERROR_CODES: dict[str, tuple[int, str]] = {
    "bad_request": (400, "the request could not be parsed"),
    "unauthorized": (401, "no API key, or an unknown, revoked or expired one"),
    "insufficient_scope": (403, "the key lacks the scope the route needs (submit, read, admin)"),
    "not_found": (404, "no such URL"),
    "audit_not_found": (404, "no such audit for your tenant"),
    "job_not_found": (404, "no such job for your tenant"),
    "key_not_found": (404, "no key with that prefix in your tenant"),
    "webhook_not_found": (404, "no such webhook endpoint for your tenant"),
    "event_not_found": (404, "no such event for your tenant"),
    "no_deliveries": (404, "the event was sent to no webhook: pull it from /v1/events"),
    "rescan_not_found": (404, "no such re-scan for your tenant"),
    "result_not_found": (404, "the job has no result of that model version"),
    "review_not_found": (404, "nobody has reviewed that job yet"),
    "store_exists": (409, "a store with that id exists already"),
    "section_exists": (409, "the store has a section for that aisle already"),
    "store_not_found": (404, "no such store for your tenant"),
    "section_not_found": (404, "no such section in that store"),
    "rescan_state": (409, "the re-scan's state does not allow that (e.g. resume a running one)"),
    "invalid_model_version": (422, "not a version in the model registry"),
    "method_not_allowed": (405, "see the Allow header"),
    "job_not_done": (409, "the job has no result yet (Retry-After says when to look again)"),
    "request_too_large": (413, "the whole request is over the size limit"),
    "uri_too_long": (414, "the request line is over 4 KiB (answered by gunicorn, before the app)"),
    "headers_too_large": (431, "a header over 8 KiB, or over 100 headers (answered by gunicorn, before the app)"),
    "too_many_photos": (413, "more than MAX_PHOTOS_PER_AUDIT photos"),
    "photo_too_large": (413, "a photo is over MAX_PHOTO_BYTES"),
    "photo_too_many_pixels": (413, "a photo is over MAX_PHOTO_PIXELS"),
    "unsupported_media_type": (415, "a photo that is not JPEG, PNG or WebP, or a body of the wrong type"),
    "photo_empty": (422, "an empty file"),
    "photo_unreadable": (422, "a photo whose header cannot be read"),
    "no_photos": (422, "no file in the multipart field photos"),
    "idempotency_key_reused": (422, "the Idempotency-Key was used for a different request"),
    "invalid_scopes": (422, "scopes: one or more of submit, read, admin"),
    "invalid_expiry": (422, "expires_in_days must be positive"),
    "invalid_cursor": (422, "not a next_cursor this API returned"),
    "invalid_url": (422, "not an allowed webhook URL: https, a public address (checked after DNS)"),
    "invalid_events": (422, "events: audit.completed, audit.failed, stock.low, rescan.completed or *"),
    "invalid_box": (422, "a reviewed box that is empty, inverted or outside the photo"),
    "invalid_class": (422, "a reviewed box's class is not one of the model's classes"),
    "photo_not_uploaded": (422, "a direct upload's photo is not in the bucket: PUT it to its URL, then confirm"),
    "photo_size_mismatch": (422, "an uploaded photo's size is not the one declared"),
    "photo_checksum_mismatch": (422, "an uploaded photo's SHA-256 is not the one declared"),
    "photo_type_mismatch": (422, "an uploaded photo is not an image of the type declared"),
    "invalid_sha256": (422, "a declared SHA-256 that is not 64 lowercase hex digits"),
    "upload_expired": (409, "the direct upload was not confirmed within UPLOAD_EXPIRY_S: begin a new one"),
    "reference_not_found": (422, "a planogram product's reference job is not one of yours"),
    "reference_undecodable": (422, "a planogram product's reference photo cannot be decoded"),
    "reference_box_outside": (422, "a planogram product's reference box is empty or outside its photo"),
    "unknown_field": (422, "a field the schema does not have"),
    "rate_limited": (429, "too many requests from this address or with this key (Retry-After says when to retry)"),
    "quota_exceeded": (429, "the tenant's photos for today are used up (Retry-After: until midnight UTC)"),
    "internal_error": (500, "a bug: it has been logged"),
    "broker_unavailable": (503, "stored but not queued: resend with the same Idempotency-Key"),
    "database_unavailable": (503, "the database does not answer (Retry-After says when to try again)"),
    "storage_unavailable": (503, "object storage does not answer; nothing was stored (Retry-After)"),
}
FIELD_CODES = "invalid_<field>, missing_<field>"  # one per field of each request schema, listed in the spec


def field_code(field: str, missing: bool) -> str:
    """The code of a problem with one request field: ``invalid_<field>`` or ``missing_<field>``."""
    base = field.split("[")[0]
    if base == "photos" and missing:
        return "no_photos"
    return f"{'missing' if missing else 'invalid'}_{base}".lower().replace("-", "_")


def problem(status: int, code: str, detail: str, errors: list[FieldProblem] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    body = {"type": TYPE_BASE + code, "title": TITLES.get(status, "Error"), "status": status, "detail": detail,
            "code": code, "errors": [{"field": e.field, "code": e.code, "message": e.message} for e in errors or []]}
    resp = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def from_domain(exc: DomainError) -> Response:
    status = next((s for cls, s in STATUS_OF.items() if isinstance(exc, cls)), 500)
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
    return problem(status, exc.code, exc.message, exc.problems, headers)


def from_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    headers = {}
    if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))  # type: ignore[attr-defined]
    detail = exc.description or TITLES.get(status, "error")
    return problem(status, HTTP_CODES.get(status, "http_error"), detail, headers=headers)


def unauthorized(detail: str) -> Response:
    return problem(401, "unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="shelfwatch"'})


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    field = parts[0] if parts else "request"
    if len(parts) > 1 and parts[1].isdigit():
        field += f"[{parts[1]}]"
    return field


def from_validation(exc: ValidationError) -> Response:
    """pydantic's errors for a request part (form, query, body, headers), all at once, as 422."""
    problems = []
    for err in exc.errors(include_url=False):
        field = _field(err["loc"])
        if err["type"] == "extra_forbidden":
            code = "unknown_field"
        else:
            code = field_code(field, missing=err["type"] == "missing")
        problems.append(FieldProblem(field, code, f"{field}: {err['msg']}"))
    return from_domain(Invalid(problems))
