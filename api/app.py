"""The Flask gateway: authenticate, validate, store, record, enqueue. Never runs the model.

``create_app(settings)`` builds everything; importing this module connects to nothing.
Routes (``api/audits.py``, ``api/keys.py``, ``api/meta.py``) are thin: they parse the
request through their declared schemas, call ``shared/`` and answer. The contract is
declared with flask-openapi3 (pydantic models, OpenAPI 3.1, served at
``/v1/openapi.json``, Swagger UI at ``/docs``).
"""

from __future__ import annotations

import time

from flask import Response, g, request
from flask_openapi3 import Info, OpenAPI
from prometheus_client import Counter, Histogram
from werkzeug.exceptions import HTTPException

from api import audits, keys, meta, problems, rescans, webhooks
from api.schemas import Problem
from api.services import Services
from shared.db import transaction
from shared.errors import DomainError
from shared.keys import authenticate
from shared.settings import Settings

REQUESTS = Counter("shelfwatch_http_requests_total", "HTTP requests", ["route", "status"])
LATENCY = Histogram("shelfwatch_http_request_seconds", "HTTP request latency", ["route"])


def create_app(settings: Settings) -> OpenAPI:
    app = OpenAPI(__name__, info=Info(title="ShelfWatch API", version="1.0.0",
                                      description="Shelf audits: submit shelf photos, get product counts."),
                  doc_ui=False, validation_error_status=422, validation_error_model=Problem,
                  validation_error_callback=problems.from_validation)
    # a whole audit fits; each photo is checked against its own limit afterwards
    app.config["MAX_CONTENT_LENGTH"] = settings.max_photo_bytes * settings.max_photos_per_audit + (1 << 20)
    services = Services.build(settings)

    @app.before_request
    def _start() -> Response | None:
        g.t0 = time.perf_counter()
        view = app.view_functions.get(request.endpoint or "")
        consumes = getattr(view, "consumes", None)
        if consumes and request.method in ("POST", "PUT", "PATCH") and (request.content_length or 0) > 0 \
                and request.mimetype != consumes:
            return problems.problem(415, "unsupported_media_type",
                                    f"send the request body as {consumes}, not {request.mimetype or 'nothing'}")
        scope = getattr(view, "required_scope", None)
        return _authenticate(scope) if scope else None

    def _authenticate(scope: str) -> Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return problems.unauthorized("send an API key as 'Authorization: Bearer <key>'")
        with transaction(services.factory) as session:
            who = authenticate(session, header[7:].strip())
        if who is None:
            return problems.unauthorized("the API key is unknown, revoked or expired")
        if scope not in who.scopes:
            return problems.problem(403, "insufficient_scope",
                                    f"this key's scopes ({', '.join(sorted(who.scopes))}) do not include "
                                    f"'{scope}', which this request needs")
        g.principal = who
        return None

    @app.after_request
    def _observe(resp: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(route, resp.status_code).inc()
        LATENCY.labels(route).observe(time.perf_counter() - g.get("t0", time.perf_counter()))
        return resp

    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError) -> Response:
        return problems.from_domain(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return problems.from_http(exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error")
        return problems.problem(500, "internal_error", "internal error; it has been logged")

    audits.register(app, services)
    keys.register(app, services)
    webhooks.register(app, services)
    rescans.register(app, services)
    meta.register(app, services)
    return app
