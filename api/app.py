"""The Flask gateway: authenticate, validate, store, record, enqueue. Never runs the model.

``create_app(settings)`` builds everything; importing this module connects to nothing.
Routes are thin: they parse the request, call ``shared.audits`` and answer.
"""

from __future__ import annotations

import time
from functools import wraps

import cv2
import numpy as np
from flask import Flask, Response, g, jsonify, request, url_for
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

from shared import audits
from shared.audits import ApiError
from shared.db import make_engine, make_sessionmaker, ping
from shared.imaging import decode
from shared.keys import tenant_for_key
from shared.celery_app import make_celery, send_job
from shared.settings import Settings
from shared.storage import PhotoStore

REQUESTS = Counter("shelfwatch_http_requests_total", "HTTP requests", ["route", "status"])
LATENCY = Histogram("shelfwatch_http_request_seconds", "HTTP request latency", ["route"])
PHOTOS = Counter("shelfwatch_photos_submitted_total", "photos accepted by the gateway")


def error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


def create_app(settings: Settings) -> Flask:
    app = Flask(__name__)
    # a whole audit fits; each photo is checked against its own limit afterwards
    app.config["MAX_CONTENT_LENGTH"] = settings.max_photo_bytes * settings.max_photos_per_audit + (1 << 20)
    engine = make_engine(settings.database_url)
    factory = make_sessionmaker(engine)
    store = PhotoStore(settings)
    celery = make_celery(settings)

    def authenticated(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            if not header.startswith("Bearer "):
                raise ApiError(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'")
            with factory() as session:
                tenant = tenant_for_key(session, header[7:].strip())
            if tenant is None:
                raise ApiError(401, "unauthorized", "the API key is unknown or revoked")
            g.tenant_id = tenant
            return view(*args, **kwargs)

        return wrapper

    @app.before_request
    def _start_timer():
        g.t0 = time.perf_counter()

    @app.after_request
    def _observe(resp):
        route = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(route, resp.status_code).inc()
        LATENCY.labels(route).observe(time.perf_counter() - g.get("t0", time.perf_counter()))
        return resp

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error(exc.status, exc.code, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        codes = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
        return error(exc.code or 500, codes.get(exc.code or 500, "bad_request"), exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        return error(500, "internal_error", "internal error; it has been logged")

    @app.post("/v1/audits")
    @authenticated
    def submit():
        photos = [f.read() for f in request.files.getlist("photos")]
        sub = audits.submit_audit(
            factory, store, settings, tenant_id=g.tenant_id, store_id=request.form.get("store_id", ""),
            aisle=request.form.get("aisle"), captured_at=request.form.get("captured_at"),
            idempotency_key=request.headers.get("Idempotency-Key"), photos=photos,
            mode=request.form.get("mode"))
        for job_id in sub.queued:  # only after the audit and its jobs are committed
            send_job(celery, str(job_id))
        PHOTOS.inc(len(sub.queued))
        status_url = url_for("get_audit", audit_id=str(sub.audit_id), _external=True)
        body = {"audit_id": str(sub.audit_id), "job_ids": [str(j) for j in sub.job_ids],
                "status_url": status_url, "replayed": not sub.created}
        return jsonify(body), 202 if sub.created else 200, {"Location": status_url}

    @app.get("/v1/audits/<audit_id>")
    @authenticated
    def get_audit(audit_id: str):
        with factory() as session:
            return jsonify(audits.audit_view(session, g.tenant_id, audit_id))

    @app.get("/v1/jobs/<job_id>")
    @authenticated
    def get_job(job_id: str):
        with factory() as session:
            job = audits.get_job_row(session, g.tenant_id, job_id)
            return jsonify(audits.job_view(session, job))

    @app.get("/v1/jobs/<job_id>/annotated.jpg")
    @authenticated
    def annotated(job_id: str):
        with factory() as session:
            job = audits.get_job_row(session, g.tenant_id, job_id)
            view = audits.job_view(session, job)
        if view["status"] != "done":
            raise ApiError(409, "job_not_done", f"job {job_id} is {view['status']}")
        img = decode(store.get(job.photo_key)).image
        return Response(draw_boxes(img, view.get("detections", [])), mimetype="image/jpeg")

    def ping_broker() -> None:
        with celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        checks = {}
        for name, check in (("database", lambda: ping(engine)), ("object_storage", store.ping),
                            ("broker", ping_broker)):
            try:
                check()
                checks[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - readiness reports, it does not raise
                checks[name] = f"error: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        return jsonify({"status": "ok" if ok else "unavailable", "checks": checks}), 200 if ok else 503

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)

    return app


def draw_boxes(img: np.ndarray, detections: list[dict]) -> bytes:
    thickness = max(1, round(max(img.shape[:2]) / 600))
    for d in detections:
        x1, y1, x2, y2 = (int(round(v)) for v in d["box"])
        cv2.rectangle(img, (x1, y1), (x2, y2), (0, 220, 0), thickness)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ApiError(500, "internal_error", "could not encode the annotated photo")
    return buf.tobytes()
