"""The foundation every worker task stands on: one decorator, ``shelfwatch_task``.

It gives a task what each would otherwise repeat (Sentry's ``instrumented_task`` and
warehouse's task class are the models):

* an explicit name and its queue (routing by purpose: audits, rescans, webhooks);
* ``acks_late``: a message is acknowledged only after its work is written;
* the time limit from the settings;
* a structured log context (task, batch, tenant, audit, job) on every log record the
  task's code writes (``context``), so one batch's lines can be found together;
* metrics: runs by outcome, duration, and the messages' wait in the queue;
* retries of transient trouble through the same ``enqueue`` as everything else, with
  exponential backoff and full jitter (``retry_jobs``).

A task body receives ids, never objects, and is an idempotent wrapper around a function
in ``shared/``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from celery import Celery

from shared.batches import BatchReport, Retry
from shared.celery_app import backoff_s, enqueue
from shared.delivery import Outcome
from shared.logs import context
from shared.metrics import (
    BATCH_SIZE,
    BATCH_STAGE,
    JOB_SECONDS,
    JOBS,
    PHOTO_PRODUCTS,
    PHOTO_SECONDS,
    QUEUE_WAIT,
    TASK_RUNS,
    TASK_SECONDS,
    WEBHOOK_ATTEMPT_SECONDS,
    WEBHOOK_ATTEMPTS,
)

log = logging.getLogger("shelfwatch.worker")



def retry_jobs(app: Celery, retries: list[Retry]) -> None:
    """Send each job again to its own queue, later: backoff grows with its attempts."""
    for r in retries:
        enqueue(app, r.job_id, queue=r.queue, countdown=backoff_s(r.attempts))


def batch_metrics(queue: str, report: BatchReport) -> None:
    """A batch's sizes, stage times, each job's wait and end-to-end time, and products per photo by model."""
    for mode, version, n in report.found:
        PHOTO_PRODUCTS.labels(mode, version).observe(n)
    n = len(report.done) + len(report.failed) + len(report.retry)
    if n:
        BATCH_SIZE.labels(queue).observe(n)
    t = report.timings_ms
    for stage, ms in (("claim", t.get("claim")), ("fetch", t.get("fetch")),
                      ("detect", t.get("detect_per_photo", 0) * n if n else None), ("write", t.get("write"))):
        if ms is not None:
            BATCH_STAGE.labels(queue, stage).observe(ms / 1e3)
    for wait in report.waits_s:
        QUEUE_WAIT.labels(queue).observe(wait)
    for stage, values in (("decode", report.decode_s), ("infer", report.infer_s)):
        for seconds in values:
            PHOTO_SECONDS.labels(queue, stage).observe(seconds)
    for total in report.e2e_s:
        JOB_SECONDS.labels(queue).observe(total)
    for outcome, count in (("done", len(report.done)), ("failed", len(report.failed)),
                           ("retried", len(report.retry)), ("skipped", len(report.skipped))):
        if count:
            JOBS.labels(queue, outcome).inc(count)


def webhook_metrics(outcome: Outcome) -> None:
    if outcome.result != "skipped":
        WEBHOOK_ATTEMPTS.labels(outcome.result).inc()
        WEBHOOK_ATTEMPT_SECONDS.observe(outcome.latency_ms / 1e3)


def shelfwatch_task(app: Celery, name: str, queue: str, **options: Any) -> Callable[[Callable], Any]:
    """Register ``fn`` as task ``name`` on ``app``, routed to ``queue``, with the foundation above."""

    def decorate(fn: Callable) -> Any:
        @wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            outcome = "error"
            with context(task=name):
                try:
                    result = fn(*args, **kwargs)
                    outcome = "ok"
                    return result
                finally:
                    TASK_RUNS.labels(name, outcome).inc()
                    TASK_SECONDS.labels(name).observe(time.perf_counter() - t0)

        app.conf.task_routes = {**(app.conf.task_routes or {}), name: {"queue": queue}}
        return app.task(name=name, acks_late=True, time_limit=app.conf.task_time_limit, **options)(run)

    return decorate
