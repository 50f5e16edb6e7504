"""The Celery worker: one batched inference task on the shared app.

Every worker process builds its own Detector (ONNX Runtime session, explicit thread
count), database engine and S3 client after the fork, once, and reuses them for every
batch. celery-batches collects messages in the parent until ``BATCH_SIZE`` arrived or
``BATCH_WAIT_MS`` passed, then hands the whole list to one child process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from celery import Celery
from celery.signals import worker_process_init
from celery_batches import Batches

from shared import registry
from shared.db import make_engine, make_sessionmaker
from shared.detector import Detector
from shared.pipeline import process_batch
from shared.queue import INFER_TASK, make_celery
from shared.settings import Settings, get_settings
from shared.storage import PhotoStore

log = logging.getLogger("shelfwatch.worker")


@dataclass
class Runtime:
    """What one worker process holds for its whole life."""

    settings: Settings
    factory: object
    store: PhotoStore
    detectors: dict[str, Detector]  # one per mode; the same file at one size is loaded once

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.database_url, pool_size=2)
        loaded: dict[tuple, Detector] = {}
        detectors = {}
        for mode, spec in registry.resolve(settings.models_dir, settings.model_path).items():
            key = (spec.model, spec.input_size)
            if key not in loaded:
                loaded[key] = Detector(spec.model, threads=settings.ort_threads, input_size=spec.input_size)
            detectors[mode] = loaded[key]
        return cls(settings, make_sessionmaker(engine), PhotoStore(settings), detectors)


_runtime: Runtime | None = None


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime.build(get_settings())
    return _runtime


@worker_process_init.connect
def _build_runtime_after_fork(**_: object) -> None:
    runtime()


def create_celery(settings: Settings) -> Celery:
    app = make_celery(settings)

    @app.task(name=INFER_TASK, base=Batches, bind=True, flush_every=settings.batch_size,
              flush_interval=settings.batch_wait_ms / 1000.0, acks_late=True)
    def infer(self, requests):  # noqa: ANN001 - celery-batches passes SimpleRequest objects
        job_ids = [r.args[0] for r in requests if r.args]
        rt = runtime()
        report = process_batch(rt.factory, rt.store, rt.detectors, job_ids)
        for job_id in report.retry:
            self.app.send_task(INFER_TASK, args=[job_id], queue="audits", countdown=5)
        log.info("batch %s: %d jobs, %d done, %d failed, %d skipped, %d retried, %s",
                 report.batch_id, len(job_ids), len(report.done), len(report.failed),
                 len(report.skipped), len(report.retry),
                 {k: round(v, 1) for k, v in report.timings_ms.items()})

    return app

