"""The Flask gateway: authenticate, validate, store, record, enqueue. Never runs the model.

``create_app(settings)`` builds everything; importing this module connects to nothing.
Routes (``api/audits.py``, ``api/keys.py``, ``api/meta.py``) are thin: they parse the
request through their declared schemas, call ``shared/`` and answer. The contract is
declared with flask-openapi3 (pydantic models, OpenAPI 3.1, served at
``/v1/openapi.json``, Swagger UI at ``/docs``).
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from botocore.exceptions import BotoCoreError
from flask import Response, g, request
from flask_openapi3 import Info, OpenAPI
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from api import audits, keys, meta, models, problems, rescans, reviews, stores, web, webhooks
from api.limits import Limits
from api.schemas import Problem
from api.services import Services
from shared import logs
from shared.db import transaction
from shared.errors import DomainError
from shared.keys import authenticate
from shared.metrics import HTTP_IN_FLIGHT, HTTP_REQUESTS, HTTP_SECONDS
from shared.settings import Settings

# a client's own request id is kept when it looks like one; else the gateway makes one
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
access = logging.getLogger("shelfwatch.access")


def create_app(settings: Settings) -> OpenAPI:
    app = OpenAPI(__name__, info=Info(title="ShelfWatch API", version="1.0.0",
                                      description="Shelf audits: submit shelf photos, get product counts."),
                  doc_ui=False, validation_error_status=422, validation_error_model=Problem,
                  validation_error_callback=problems.from_validation)
    # the request in all; Werkzeug spools each uploaded file to disk past 500 KB, and the photos
    # are read one at a time (shared.audits), so a request costs the process about one photo
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.config["MAX_FORM_PARTS"] = settings.max_photos_per_audit + 20  # photos, then the other fields
    services = Services.build(settings)
    limits = Limits(app, settings)  # its check of the client's address runs before the hooks below

    logs.configure(settings.log_format)

    @app.before_request
    def _start() -> Response | None:
        g.t0 = time.perf_counter()
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        g.log_context = logs.context(request_id=g.request_id)
        g.log_context.__enter__()
        HTTP_IN_FLIGHT.inc()
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
        presented = header[7:].strip()
        who = services.keys.get(presented)
        if who is None:
            with transaction(services.factory) as session:
                who = authenticate(session, presented, cache=services.keys)
        if who is None:
            return problems.unauthorized("the API key is unknown, revoked or expired")
        if scope not in who.scopes:
            return problems.problem(403, "insufficient_scope",
                                    f"this key's scopes ({', '.join(sorted(who.scopes))}) do not include "
                                    f"'{scope}', which this request needs")
        g.principal = who
        g.tenant_context = logs.context(tenant=who.tenant_id)
        g.tenant_context.__enter__()
        return limits.check_key(who, scope)

    @app.after_request
    def _observe(resp: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        HTTP_REQUESTS.labels(route, request.method, resp.status_code).inc()
        HTTP_SECONDS.labels(route, request.method).observe(time.perf_counter() - g.get("t0", time.perf_counter()))
        resp.headers["X-Request-Id"] = g.get("request_id", "")
        access.info("%s %s %s %.1f ms", request.method, request.path, resp.status_code,
                    (time.perf_counter() - g.get("t0", time.perf_counter())) * 1e3)
        return resp

    @app.teardown_request
    def _done(_: BaseException | None) -> None:
        if "tenant_context" in g:  # the inner context first: contexts unwind in order
            g.tenant_context.__exit__(None, None, None)
        if "log_context" in g:
            HTTP_IN_FLIGHT.dec()
            g.log_context.__exit__(None, None, None)

    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError) -> Response:
        return problems.from_domain(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return problems.from_http(exc)

    @app.errorhandler(OperationalError)
    def _database_down(exc: OperationalError) -> Response:
        app.logger.warning("database unavailable: %s", str(exc).splitlines()[0])
        return problems.problem(503, "database_unavailable", "the database does not answer; try again shortly",
                                headers={"Retry-After": "5"})

    @app.errorhandler(BotoCoreError)
    def _storage_down(exc: BotoCoreError) -> Response:  # no connection, timeouts (an S3 error answer is ClientError)
        app.logger.warning("object storage unavailable: %s", exc)
        return problems.problem(503, "storage_unavailable", "object storage does not answer; nothing was stored, "
                                "send the request again shortly", headers={"Retry-After": "5"})

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error")
        return problems.problem(500, "internal_error", "internal error; it has been logged")

    audits.register(app, services)
    keys.register(app, services)
    webhooks.register(app, services)
    rescans.register(app, services)
    stores.register(app, services)
    reviews.register(app, services)
    models.register(app, services)
    web.register(app)
    meta.register(app, services)
    return app
