"""Leases: a lost worker process's jobs are taken up again within seconds, not an hour.

A worker process writes its heartbeat (``worker_heartbeats``, keyed ``host:pid``) every
HEARTBEAT_INTERVAL_S from a thread of its own, and stamps the jobs it claims with that id
(``jobs.claimed_by``). Beat runs ``reap`` every REAP_INTERVAL_S: a job still ``running``
whose process has not been heard from for LEASE_S goes back to ``queued`` and its id to
the broker. So a ``kill -9`` of a pool child (whose messages celery-batches leaves unacked
until the broker's visibility timeout, an hour) or of a whole worker costs at most
LEASE_S + REAP_INTERVAL_S before another process has the jobs (30 s by default). The jobs
a dead worker had fetched but not yet claimed are still ``queued`` with their messages
unacked; once the broker holds nothing for their queue, they are sent again too.

Taking a job up twice is safe: results are unique per (job, model version) and a worker
skips a job already final (``shared.batches``). A live process never loses its jobs: its
heartbeat thread runs while its batch does (ONNX Runtime releases the GIL), and a batch
that hangs is killed by the task time limit, after which the pool's new child takes over.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime, timedelta

from celery import Celery
from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from shared.audits import refresh_audit_status
from shared.celery_app import enqueue
from shared.models import Job, JobStatus, WorkerHeartbeat

log = logging.getLogger("shelfwatch.leases")
FORGET_AFTER = timedelta(days=1)  # heartbeats of processes gone this long are deleted


def worker_id() -> str:
    """This process: ``host:pid`` (a pod's name is its host name)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


def beat(factory: sessionmaker[Session], worker: str, now: datetime | None = None) -> None:
    """Record that ``worker`` is alive now."""
    now = now or datetime.now(UTC)
    with factory() as session, session.begin():
        session.execute(insert(WorkerHeartbeat).values(worker_id=worker, seen_at=now)
                        .on_conflict_do_update(index_elements=["worker_id"], set_={"seen_at": now}))


class Heartbeat(threading.Thread):
    """A daemon thread that calls ``beat`` every ``interval_s``; a failed beat is logged and retried."""

    def __init__(self, factory: sessionmaker[Session], interval_s: float, worker: str | None = None):
        super().__init__(name="shelfwatch-heartbeat", daemon=True)
        self.factory, self.interval_s, self.worker = factory, interval_s, worker or worker_id()
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                beat(self.factory, self.worker)
            except Exception:  # the database may be down for a while; keep trying
                log.warning("heartbeat of %s not written", self.worker, exc_info=True)
            self.stopped.wait(self.interval_s)

    def stop(self) -> None:
        self.stopped.set()


def lost_jobs(session: Session, lease_s: float, now: datetime | None = None,
              max_batch_s: float | None = None) -> list[Job]:
    """Running jobs (locked) whose process has not been heard from for ``lease_s`` seconds, or
    (``max_batch_s``: the task time limit) that no batch can still be running."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=lease_s)
    alive = exists().where(WorkerHeartbeat.worker_id == Job.claimed_by, WorkerHeartbeat.seen_at >= cutoff)
    lost = ~alive
    if max_batch_s is not None:  # a live process whose batch failed without putting its jobs back
        lost = or_(lost, Job.started_at < now - timedelta(seconds=max_batch_s + lease_s))
    query = (select(Job).where(Job.status == JobStatus.RUNNING, Job.started_at < cutoff, lost)
             .order_by(Job.started_at).limit(10_000).with_for_update(skip_locked=True))
    return list(session.execute(query).scalars())


def unsent_jobs(session: Session, queues: list[str], lease_s: float, now: datetime | None = None) -> list[Job]:
    """Jobs never claimed, queued for ``lease_s`` on a queue the broker holds nothing of.

    Their message is gone: prefetched by a worker that died (Redis hands it back only after
    its visibility timeout, an hour), or lost by the broker (restarted, flushed). A job
    with attempts is left to ``shelfwatch requeue``: its retry may be waiting out a backoff
    in a live worker's memory.
    """
    if not queues:
        return []
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=lease_s)
    query = (select(Job).where(Job.status == JobStatus.QUEUED, Job.attempts == 0, Job.queue.in_(queues),
                               Job.queued_at < cutoff).order_by(Job.queued_at).limit(10_000))
    return list(session.execute(query).scalars())


def reap(factory: sessionmaker[Session], celery: Celery, lease_s: float, now: datetime | None = None,
         empty_queues: list[str] | None = None, max_batch_s: float | None = None) -> list[str]:
    """Put the jobs of lost processes back on their queues; returns their ids.

    ``empty_queues``: queues the broker says hold no message (Redis; None on SQS, whose
    visibility timeout hands a dead consumer's messages back by itself): their queued,
    never-claimed jobs older than ``lease_s`` are sent again too.
    """
    now = now or datetime.now(UTC)
    with factory() as session, session.begin():
        jobs = lost_jobs(session, lease_s, now, max_batch_s)
        sent = [(str(j.id), j.queue, j.claimed_by) for j in jobs]
        sent += [(str(j.id), j.queue, "no message") for j in unsent_jobs(session, empty_queues or [], lease_s, now)]
        if jobs:
            session.execute(update(Job).where(Job.id.in_([j.id for j in jobs]))
                            .values(status=JobStatus.QUEUED, claimed_by=None))
            refresh_audit_status(session, {j.audit_id for j in jobs})
        session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.seen_at < now - FORGET_AFTER))
    for job_id, queue, _ in sent:  # after the commit: a worker that takes it finds it queued
        enqueue(celery, job_id, queue=queue)
    if sent:
        lost = sorted({w or "unknown" for _, _, w in sent})
        log.warning("%d job(s) of lost worker process(es) %s put back on their queues", len(sent), ", ".join(lost))
    return [j for j, _, _ in sent]
