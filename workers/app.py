"""The Celery worker: the tasks on the shared app, and each process's runtime.

``create_worker_app(settings)`` registers the tasks on the app both sides share
(``shared.celery_app``) and builds each worker process's runtime (detectors, database,
S3) from that same ``settings`` after the fork. Importing this module connects to nothing.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

import requests
from celery import Celery
from celery.signals import worker_init, worker_process_init
from celery_batches import Batches, SimpleRequest
from prometheus_client import start_http_server

from shared import delivery, leases, logs, model_health, rescans, uploads
from shared.batches import process_batch
from shared.celery_app import (
    ACCURACY_TASK,
    DELIVER_TASK,
    DISPATCH_TASK,
    DRIFT_TASK,
    FEED_TASK,
    INFER_TASK,
    NIGHTLY_TASK,
    REAP_TASK,
    RESCAN_TASK,
    enqueue,
    enqueue_deliveries,
    enqueue_rescan,
    is_sqs,
    make_celery,
    waiting,
)
from shared.db import transaction
from shared.logs import context
from shared.metrics import BATCH_SIZE, JOBS, ModelVersions, scrape_registry
from shared.model_store import ModelStore
from shared.settings import Settings
from shared.storage import PhotoStore
from workers.pacing import PacedBatches
from workers.runtime import RuntimeHolder
from workers.tasks import batch_metrics, log, retry_jobs, shelfwatch_task, webhook_metrics

RESEND_AFTER_S = 5  # a batch that failed as a whole (database or storage down) is sent again this much later


def create_worker_app(settings: Settings) -> Celery:
    app = make_celery(settings)
    runtime = RuntimeHolder(settings)
    logs.configure(settings.log_format)
    versions = ModelVersions()

    @worker_init.connect(weak=False)
    def _serve_metrics(**_: Any) -> None:
        # the pool's parent serves every child's samples (multiprocess mode) on one port
        if settings.worker_metrics_port:
            start_http_server(settings.worker_metrics_port, registry=scrape_registry())

    heartbeat: list[leases.Heartbeat] = []  # this process's, started once it may claim jobs

    def alive() -> str:
        """This process's id, its heartbeat running (the reaper takes up the jobs of silent ones)."""
        if not heartbeat or heartbeat[0].worker != leases.worker_id():  # none yet, or one of the parent's
            heartbeat[:] = [leases.Heartbeat(runtime.factory(), settings.heartbeat_interval_s)]
            heartbeat[0].start()
        return heartbeat[0].worker

    @worker_process_init.connect(weak=False)
    def _build_runtime_after_fork(**_: Any) -> None:
        runtime.get()  # load the models before the first batch arrives, not during it
        alive()

    # celery-batches collects messages in the parent until BATCH_SIZE arrived or
    # BATCH_WAIT_MS passed, then hands the whole list to one child process; paced
    # (workers/pacing.py): only to a free process, so a busy worker takes full batches.
    batches = PacedBatches if settings.batch_pacing else Batches
    pacing = {"forget_after_s": settings.task_time_limit_s + 60} if settings.batch_pacing else {}

    @shelfwatch_task(app, INFER_TASK, queue="audits", base=batches, bind=True,
                     flush_every=settings.batch_size, flush_interval=settings.batch_wait_ms / 1000.0,
                     **pacing)
    def infer(self: Batches, requests: list[SimpleRequest]) -> None:
        job_ids = [r.args[0] for r in requests if r.args]
        rt = runtime.get()
        detectors = rt.detectors()
        for mode, det in detectors.items():
            versions.observe(mode, det.version, det.provider)
        try:
            report = process_batch(rt.factory, rt.store, detectors, job_ids, settings.public_url, worker=alive(),
                                   canaries=rt.canaries())
        except Exception:
            # the database or storage failed mid-batch: the jobs may stay claimed by this live process,
            # which the reaper leaves alone; send them again shortly (a claim takes running jobs too)
            log.exception("batch of %d jobs failed; sending them again in %d s", len(job_ids), RESEND_AFTER_S)
            for job_id in job_ids:
                enqueue(self.app, job_id, queue="audits", countdown=RESEND_AFTER_S)
            raise
        retry_jobs(self.app, report.retry)
        enqueue_deliveries(self.app, report.deliveries)  # committed with the audits they report
        batch_metrics("audits", report)
        with context(batch=report.batch_id):
            log.info("%d jobs: %d done, %d failed, %d skipped, %d retried; ms %s",
                     len(job_ids), len(report.done), len(report.failed), len(report.skipped),
                     len(report.retry), {k: round(v, 1) for k, v in report.timings_ms.items()})

    # Webhooks: an IO-bound pool of its own (``--queues webhooks --pool threads``), so a
    # slow receiver holds one thread for at most its timeouts and never a model batch.
    http = requests.Session()

    @shelfwatch_task(app, DELIVER_TASK, queue="webhooks")
    def deliver(delivery_id: str) -> str:
        with context(delivery=delivery_id):
            outcome = delivery.attempt(runtime.factory(), settings, delivery_id, http)
            webhook_metrics(outcome)
            if outcome.result != "skipped":
                log.info("delivery %s: %s (HTTP %s, %.0f ms)", delivery_id, outcome.result, outcome.status_code,
                         outcome.latency_ms)
        return outcome.result

    @shelfwatch_task(app, DISPATCH_TASK, queue="webhooks")
    def dispatch() -> int:
        ids = delivery.due(runtime.factory())
        enqueue_deliveries(app, ids)
        return len(ids)

    # Re-scans: their own queue and pool, so bulk work never takes an audit's worker.
    @shelfwatch_task(app, RESCAN_TASK, queue="rescans", base=batches, bind=True,
                     flush_every=settings.rescan_batch_size, flush_interval=settings.rescan_batch_wait_ms / 1000.0,
                     **pacing)
    def rescan(self: Batches, requests: list[SimpleRequest]) -> None:
        items = [tuple(r.args) for r in requests if len(r.args) == 3]
        rt = runtime.get()
        batch_id = str(uuid.uuid4())
        with context(batch=batch_id):
            report = rescans.process_rescan_batch(rt.factory, rt.store, rt.models.detector, items, batch_id)
            BATCH_SIZE.labels("rescans").observe(len(items))
            for outcome, n in (("done", report.done), ("failed", report.failed), ("skipped", report.skipped)):
                if n:
                    JOBS.labels("rescans", outcome).inc(n)
            log.info("re-scan batch of %d: %d done, %d failed, %d skipped", len(items), report.done, report.failed,
                     report.skipped)

    @shelfwatch_task(app, FEED_TASK, queue="webhooks")  # bookkeeping: the pool that is always up
    def feed() -> int:
        step = rescans.feed(runtime.factory(), settings.rescan_chunk, settings.rescan_max_in_flight,
                            settings.rescan_stall_s)
        for job_id, version, run_id in step.messages:  # only after the feed's commit
            enqueue_rescan(app, job_id, version, run_id)
        enqueue_deliveries(app, [str(d) for d in step.deliveries])
        return len(step.messages)

    @shelfwatch_task(app, NIGHTLY_TASK, queue="webhooks")
    def nightly() -> str | None:
        with transaction(runtime.factory()) as session:
            run = rescans.start_nightly(session, ModelStore(settings))
        log.info("nightly re-scan: %s", f"run {run}" if run else "one is still open; not started twice")
        return run

    @functools.cache
    def photos() -> PhotoStore:
        """The reaper's own client of the photo bucket, made on first use."""
        return PhotoStore(settings)

    @shelfwatch_task(app, REAP_TASK, queue="webhooks")
    def reap() -> int:
        # on Redis, a queue with no message left means its queued jobs' messages were lost
        empty = None if is_sqs(settings) else [q for q in ("audits",) if waiting(app, q) == 0]
        taken = leases.reap(runtime.factory(), app, settings.lease_s, empty_queues=empty,
                            max_batch_s=settings.task_time_limit_s)
        if taken:
            JOBS.labels("audits", "reaped").inc(len(taken))
        # direct uploads never confirmed: their audits fail, their photos go
        enqueue_deliveries(app, [str(d) for d in uploads.expire_uploads(
            runtime.factory(), photos(), settings.upload_expiry_s, public_url=settings.public_url)])
        return len(taken)

    @shelfwatch_task(app, DRIFT_TASK, queue="webhooks")
    def drift() -> int:
        with transaction(runtime.factory()) as session:
            rows = model_health.compute_drift(session, settings.drift_recent_h, settings.drift_reference_h)
            model_health.save(session, rows)
        return len(rows)

    @shelfwatch_task(app, ACCURACY_TASK, queue="audits")
    def accuracy() -> list[dict]:
        rt = runtime.get()
        rows = model_health.accuracy_watch(rt.models, rt.models.store)
        with transaction(rt.factory) as session:
            model_health.save(session, rows)
        log.info("accuracy watch: %s", {r["mode"]: (r["version"], r["value"]) for r in rows})
        return rows

    return app
