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

import contextvars
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from celery import Celery
from prometheus_client import Counter, Histogram

from shared.batches import Retry
from shared.celery_app import backoff_s, enqueue
from shared.delivery import Outcome

log = logging.getLogger("shelfwatch.worker")

TASK_RUNS = Counter("shelfwatch_task_runs_total", "task runs by outcome", ["task", "outcome"])
TASK_SECONDS = Histogram("shelfwatch_task_seconds", "task run time", ["task"])
JOBS_RETRIED = Counter("shelfwatch_jobs_retried_total", "jobs sent again after transient trouble", ["queue"])
DELIVERIES = Counter("shelfwatch_webhook_deliveries_total", "webhook delivery attempts by outcome", ["outcome"])
DELIVERY_SECONDS = Histogram("shelfwatch_webhook_attempt_seconds", "webhook attempt latency")

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("shelfwatch_log_context",
                                                                                default=None)


class ContextFilter(logging.Filter):
    """Adds the task's context to every record: ``%(context)s`` in a format string."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _context.get() or {}
        record.context = " ".join(f"{k}={v}" for k, v in ctx.items()) if ctx else "-"
        return True


@contextmanager
def context(**values: str) -> Iterator[None]:
    """Add keys to the log context for the duration of the block (nested blocks add up)."""
    token = _context.set({**(_context.get() or {}), **{k: str(v) for k, v in values.items()}})
    try:
        yield
    finally:
        _context.reset(token)


def retry_jobs(app: Celery, retries: list[Retry]) -> None:
    """Send each job again to its own queue, later: backoff grows with its attempts."""
    for r in retries:
        enqueue(app, r.job_id, queue=r.queue, countdown=backoff_s(r.attempts))
        JOBS_RETRIED.labels(r.queue).inc()


def webhook_metrics(outcome: Outcome) -> None:
    if outcome.result != "skipped":
        DELIVERIES.labels(outcome.result).inc()
        DELIVERY_SECONDS.observe(outcome.latency_ms / 1e3)


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
