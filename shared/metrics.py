"""Every metric the product exports, defined once; the README's metric table lists them.

Gunicorn and Celery's prefork pool run several processes: with
``PROMETHEUS_MULTIPROC_DIR`` set (``shared.metrics_dir.use_multiprocess_dir``, by the ops
command before any process imports prometheus_client), each process writes its samples to that
directory and a scrape aggregates them, so every process is counted exactly once.
``scrape_registry`` is what an endpoint serves. Farm state that lives in Postgres (queue
depths, webhook deliveries) is read once per scrape by the gateway (``api/meta.py``),
never summed across processes.
"""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess

_SECONDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

# --- the gateway ----------------------------------------------------------------------------
HTTP_REQUESTS = Counter("shelfwatch_http_requests_total", "HTTP requests", ["route", "method", "status"])
HTTP_SECONDS = Histogram("shelfwatch_http_request_seconds", "HTTP request latency", ["route", "method"],
                         buckets=_SECONDS[:10])
HTTP_IN_FLIGHT = Gauge("shelfwatch_http_in_flight", "HTTP requests being served", multiprocess_mode="livesum")
PHOTOS_SUBMITTED = Counter("shelfwatch_photos_submitted_total", "photos accepted by the gateway")

# --- the workers ----------------------------------------------------------------------------
BATCH_SIZE = Histogram("shelfwatch_batch_size", "jobs per batch", ["queue"], buckets=(1, 2, 4, 8, 16, 32, 64))
QUEUE_WAIT = Histogram("shelfwatch_queue_wait_seconds", "a job's wait from queued to claimed", ["queue"],
                       buckets=_SECONDS)
BATCH_STAGE = Histogram("shelfwatch_batch_stage_seconds", "a batch's stages: claim, fetch, detect, write",
                        ["queue", "stage"], buckets=_SECONDS)
PHOTO_SECONDS = Histogram("shelfwatch_photo_seconds", "one photo's decode and inference (model + NMS)",
                          ["queue", "stage"], buckets=_SECONDS[:10])
PHOTO_PRODUCTS = Histogram("shelfwatch_photo_products", "products found per photo, by mode and model version "
                           "(a canary against the serving model)", ["mode", "version"],
                           buckets=(0, 10, 25, 50, 100, 150, 200, 300, 400, 600))
JOB_SECONDS = Histogram("shelfwatch_job_seconds", "a job end to end: queued to result written", ["queue"],
                        buckets=_SECONDS)
JOBS = Counter("shelfwatch_jobs_total", "jobs by outcome: done, failed, retried, skipped, reaped (a lost process's)",
               ["queue", "outcome"])
MODEL_INFO = Gauge("shelfwatch_model_info", "1 for the version serving each mode and the execution provider running it",
                   ["mode", "version", "provider"], multiprocess_mode="livemax")
TASK_RUNS = Counter("shelfwatch_task_runs_total", "task runs by outcome", ["task", "outcome"])
TASK_SECONDS = Histogram("shelfwatch_task_seconds", "task run time", ["task"], buckets=_SECONDS)
WEBHOOK_ATTEMPTS = Counter("shelfwatch_webhook_attempts_total", "webhook delivery attempts: delivered, retry, dead",
                           ["outcome"])
WEBHOOK_ATTEMPT_SECONDS = Histogram("shelfwatch_webhook_attempt_seconds", "webhook attempt latency",
                                    buckets=_SECONDS[:10])


def scrape_registry() -> CollectorRegistry:
    """This process's metrics, or every process's of the role when multiprocess mode is on."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


class ModelVersions:
    """``shelfwatch_model_info``: 1 for the version serving each mode, 0 for the one it replaced."""

    def __init__(self) -> None:
        self.serving: dict[str, tuple[str, str]] = {}

    def observe(self, mode: str, version: str, provider: str = "cpu") -> None:
        old = self.serving.get(mode)
        if old == (version, provider):
            return
        if old is not None:
            MODEL_INFO.labels(mode, *old).set(0)
        MODEL_INFO.labels(mode, version, provider).set(1)
        self.serving[mode] = (version, provider)
