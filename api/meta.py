"""Routes about the service itself: health, readiness, metrics, the spec and its docs page.

The docs page is Swagger UI from the ``flask-openapi3-swagger`` package, served from the
package's own files: no CDN, so it works on a closed network.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from importlib import resources

from flask import Blueprint, Response, jsonify, request
from flask_openapi3 import OpenAPI, Tag
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api import problems
from api.contract import finish, route
from api.schemas import Health, Readiness
from api.services import Services
from shared import delivery, model_health
from shared.celery_app import is_sqs
from shared.db import ping
from shared.metrics import scrape_registry

META = Tag(name="service", description="health, readiness, metrics and this document")
SWAGGER_ASSETS = resources.files("flask_openapi3_swagger") / "templates" / "swagger"
DOCS_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ShelfWatch API</title>
<link rel="stylesheet" href="/docs/assets/css/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/js/swagger-ui-bundle.js"></script>
<script>window.onload = () => { window.ui = SwaggerUIBundle({url: "/v1/openapi.json", dom_id: "#swagger-ui"}); };
</script></body></html>
"""


def register(app: OpenAPI, services: Services) -> None:
    @route(app, "get", "/healthz", None, ok={200: Health}, tags=[META], summary="Liveness: the process answers")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    def ping_broker() -> None:
        with services.celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)

    @route(app, "get", "/readyz", None, ok={200: Readiness, 503: Readiness}, tags=[META],
           summary="Readiness: the database, object storage and broker answer")
    def readyz() -> tuple[Response, int]:
        checks = {}
        for name, check in (("database", lambda: ping(services.engine)), ("object_storage", services.store.ping),
                            ("broker", ping_broker)):
            try:
                check()
                checks[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - readiness reports a failure, it does not raise
                checks[name] = f"error: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        body: dict = {"status": "ok" if ok else "unavailable"}
        if operator():  # what is down, and why, is for the operators, not the world
            body["checks"] = checks
        return jsonify(body), 200 if ok else 503

    def operator() -> bool:
        """No METRICS_TOKEN (the NetworkPolicy keeps callers in the cluster), or the caller sends it."""
        token = services.settings.metrics_token
        given = request.headers.get("Authorization", "")
        return not token or hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    farm = CollectorRegistry()
    farm.register(FarmCollector(services))

    @route(app, "get", "/metrics", None, ok={200: {"description": "Prometheus text format",
                                                   "content": {"text/plain": {"schema": {"type": "string"}}}}},
           errors=(401, 503), tags=[META],
           summary="Prometheus metrics of this process, and the farm's read from Postgres",
           description="With METRICS_TOKEN set, only for a request that sends it as a bearer token.")
    def metrics() -> Response:
        if not operator():
            return problems.unauthorized("send the metrics token as 'Authorization: Bearer <METRICS_TOKEN>'")
        return Response(generate_latest(scrape_registry()) + generate_latest(farm), mimetype=CONTENT_TYPE_LATEST)

    @route(app, "get", "/v1/openapi.json", None, ok={200: {"description": "this document",
                                                           "content": {"application/json": {"schema": {}}}}},
           tags=[META], summary="The OpenAPI 3.1 document of this API")
    def openapi_json() -> Response:
        return jsonify(spec(app))

    docs = Blueprint("docs", __name__, static_folder=str(SWAGGER_ASSETS), static_url_path="/docs/assets")

    @docs.get("/docs")
    def docs_page() -> Response:
        return Response(DOCS_PAGE, mimetype="text/html")

    app.register_blueprint(docs)


class FarmCollector(Collector):
    """The farm's state as Postgres has it, read once per scrape (the truth, never summed).

    Queued and running jobs and the oldest queued job's age per queue, photos left in
    running re-scans, webhook deliveries by status and the oldest pending one's age, and
    the workers consuming each queue (Celery's ping, cached for 15 s; not on SQS, which
    has no remote control).
    """

    QUEUES = ("audits", "rescans", "webhooks")

    def __init__(self, services: Services, consumers_ttl_s: float = 15.0):
        self.services, self.ttl = services, consumers_ttl_s
        self._consumers: dict[str, int] = {}
        self._consumers_at = -1e9

    def consumers(self) -> dict[str, int] | None:
        if is_sqs(self.services.settings):
            return None
        now = time.monotonic()
        if now - self._consumers_at >= self.ttl:
            counts = dict.fromkeys(self.QUEUES, 0)
            try:
                answers = self.services.celery.control.inspect(timeout=0.5).active_queues() or {}
            except Exception:  # noqa: BLE001 - a broker hiccup reports 0 consumers, never a failed scrape
                answers = {}
            for queues in answers.values():
                for q in {q["name"] for q in queues}:
                    counts[q] = counts.get(q, 0) + 1
            self._consumers, self._consumers_at = counts, now
        return self._consumers

    def collect(self) -> Iterator[Metric]:
        with self.services.factory() as session:
            farm = delivery.farm_state(session)
            hooks = delivery.health(session)
        jobs = GaugeMetricFamily("shelfwatch_queue_jobs", "jobs queued or running per queue", labels=["queue", "state"])
        oldest = GaugeMetricFamily("shelfwatch_queue_oldest_seconds", "age of the oldest queued job", labels=["queue"])
        for queue in ("audits", "rescans"):
            for state in ("queued", "running"):
                jobs.add_metric([queue, state], farm["jobs"].get((queue, state), 0))
            oldest.add_metric([queue], farm["oldest_queued_s"].get(queue, 0.0))
        yield jobs
        yield oldest
        yield GaugeMetricFamily("shelfwatch_rescan_remaining", "photos left in running re-scans",
                                value=farm["rescan_remaining"])
        by_status = GaugeMetricFamily("shelfwatch_webhook_deliveries", "webhook deliveries by status",
                                      labels=["status"])
        for status, n in hooks["by_status"].items():
            by_status.add_metric([status], n)
        yield by_status
        yield GaugeMetricFamily("shelfwatch_webhook_oldest_pending_seconds", "age of the oldest pending delivery",
                                value=hooks["oldest_pending_s"])
        with self.services.factory() as session:
            health = model_health.latest(session)
        drift = GaugeMetricFamily("shelfwatch_drift_psi", "PSI of the recent window against the reference",
                                  labels=["tenant", "store", "signal"])
        acc = GaugeMetricFamily("shelfwatch_accuracy_map50", "the serving model on the validation set",
                                labels=["mode", "version"])
        for h in health:
            if h.signal == "map50":
                acc.add_metric([h.mode, h.version], h.value)
            else:
                drift.add_metric([h.tenant_id, h.store_id, h.signal], h.value)
        yield drift
        yield acc
        consumers = self.consumers()
        if consumers is not None:
            family = GaugeMetricFamily("shelfwatch_workers_consuming", "workers consuming each queue",
                                       labels=["queue"])
            for queue, n in consumers.items():
                family.add_metric([queue], n)
            yield family


def spec(app: OpenAPI) -> dict:
    """The served document (also committed as docs/openapi.json; a test keeps them equal)."""
    return finish(app.api_doc)
