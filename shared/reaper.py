"""Re-enqueue jobs the broker may have lost, so nothing submitted is ever silently dropped.

Postgres is the source of truth; the queue only carries job ids. A job id can go missing
between the two: the gateway dies after its commit and before its enqueue, the broker
restarts without persistence, an operator flushes a queue. Such a job stays ``queued``
(or ``running``, if the worker that claimed it died and the message was lost too)
forever. The reaper finds jobs that have waited longer than ``older_than_s`` and sends
their ids again.

Sending twice is safe: the worker skips a job that already has a result for its model
version (see ``shared.batches``), so a duplicate costs one indexed lookup. Choose
``older_than_s`` above the longest honest wait (queue backlog plus the task time limit)
so the reaper rarely duplicates live messages; ``shelfwatch requeue`` defaults to the
broker's visibility timeout, after which Redis would redeliver an unacked message anyway.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from celery import Celery
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from shared.celery_app import enqueue
from shared.models import Job, JobStatus


def stale_jobs(session: Session, older_than_s: float, now: datetime | None = None, limit: int = 10_000) -> list[Job]:
    """Jobs queued, or running, for longer than ``older_than_s`` seconds (oldest first)."""
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=older_than_s)
    stuck = or_(and_(Job.status == JobStatus.QUEUED, Job.queued_at < cutoff),
                and_(Job.status == JobStatus.RUNNING, Job.started_at < cutoff))
    return list(session.execute(select(Job).where(stuck).order_by(Job.queued_at).limit(limit)).scalars())


def requeue_stale(factory: sessionmaker[Session], celery: Celery, older_than_s: float,
                  now: datetime | None = None) -> list[str]:
    """Send the ids of stale jobs to their queues again; returns the ids sent."""
    with factory() as session:
        jobs = [(str(j.id), j.queue) for j in stale_jobs(session, older_than_s, now)]
    for job_id, queue in jobs:
        enqueue(celery, job_id, queue=queue)
    return [j for j, _ in jobs]
