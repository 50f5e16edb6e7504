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
    TooLarge,
    Unavailable,
    UnsupportedMedia,
)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://shelfwatch.dev/problems/"

STATUS_OF: dict[type[DomainError], int] = {
    NotFound: 404, Invalid: 422, Conflict: 409, TooLarge: 413, UnsupportedMedia: 415, Unavailable: 503,
}
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 413: "Content too large", 415: "Unsupported media type", 422: "Unprocessable content",
          429: "Too many requests", 500: "Internal server error", 503: "Service unavailable"}
# the stable codes of errors Werkzeug raises before a view runs
HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "request_too_large",
              415: "unsupported_media_type"}


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


# a field's code when the value is missing or wrong; anything else is invalid_<field>
_MISSING = {"photos": "no_photos"}


def from_validation(exc: ValidationError) -> Response:
    """pydantic's errors for a request part (form, query, body, headers), all at once, as 422."""
    problems = []
    for err in exc.errors(include_url=False):
        field = _field(err["loc"])
        base = field.split("[")[0]
        if err["type"] == "missing":
            code = _MISSING.get(base, f"missing_{base}".lower().replace("-", "_"))
        elif err["type"] == "extra_forbidden":
            code = "unknown_field"
        else:
            code = _MISSING.get(base) if base == "photos" and err["type"] == "too_short" else None
            code = code or f"invalid_{base}".lower().replace("-", "_")
        problems.append(FieldProblem(field, code, f"{field}: {err['msg']}"))
    return from_domain(Invalid(problems))
