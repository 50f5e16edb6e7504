"""The Celery application both sides share: broker, queues, delivery guarantees.

The gateway only *sends* tasks by name (``enqueue``); ``workers/`` registers the task
bodies on this same app. ``enqueue`` is the one way a job id reaches a queue: the gateway
after its commit, the reaper, and a worker retrying a job after transient trouble.
Messages carry a job id and nothing else: Postgres holds the state, so a message lost or
delivered twice is harmless.
"""

from __future__ import annotations

import random

from celery import Celery
from celery.schedules import crontab
from kombu import Queue

from shared.settings import Settings

INFER_TASK = "shelfwatch.infer"
DELIVER_TASK = "shelfwatch.webhooks.deliver"
DISPATCH_TASK = "shelfwatch.webhooks.dispatch"
RESCAN_TASK = "shelfwatch.rescan"
FEED_TASK = "shelfwatch.rescans.feed"
NIGHTLY_TASK = "shelfwatch.rescans.nightly"
DRIFT_TASK = "shelfwatch.health.drift"
ACCURACY_TASK = "shelfwatch.health.accuracy"
REAP_TASK = "shelfwatch.jobs.reap"
QUEUES = ("audits", "rescans", "webhooks")  # interactive first; the others come later


def make_celery(settings: Settings) -> Celery:
    if not settings.broker:
        raise RuntimeError("no broker: set REDIS_URL (or BROKER_URL), or run `shelfwatch-dev services up`")
    app = Celery("shelfwatch", broker=settings.broker, set_as_current=False)
    app.conf.update(
        task_queues=[Queue(q) for q in QUEUES],
        task_default_queue="audits",
        task_routes={INFER_TASK: {"queue": "audits"}, DELIVER_TASK: {"queue": "webhooks"},
                     DISPATCH_TASK: {"queue": "webhooks"}, RESCAN_TASK: {"queue": "rescans"},
                     FEED_TASK: {"queue": "webhooks"}, NIGHTLY_TASK: {"queue": "webhooks"},
                     DRIFT_TASK: {"queue": "webhooks"}, ACCURACY_TASK: {"queue": "audits"}},
        beat_schedule=beat_schedule(settings),
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        # A job is acknowledged only after its result is written; a worker killed
        # mid-batch gives its messages back to the broker.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Per worker process: one batch running and the next one filling, never more.
        # The multiplier counts messages (a batch is BATCH_SIZE of them); with only one
        # batch allowed, the next could not gather while the current one runs, and the
        # benchmark saw batches of 2.75 on average instead of 8.
        worker_prefetch_multiplier=2 * max(settings.batch_size, settings.rescan_batch_size),
        task_time_limit=settings.task_time_limit_s,
        broker_transport_options=transport_options(settings),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        # On SQS, remote control would create a reply queue per worker: the pods may only
        # use the queues Terraform made, so it is off there.
        worker_enable_remote_control=not is_sqs(settings),
    )
    return app


def beat_schedule(settings: Settings) -> dict:
    """Due webhook deliveries and re-scan feeding (both wait in Postgres, not in the broker), the
    jobs of lost worker processes (``shared.leases``), and the nightly re-scan when RESCAN_CRON is set.

    All three are short database steps run by the webhooks pool, which always has a worker:
    the re-scan pool scales to zero and wakes only once a run has photos left to feed.
    """
    schedule = {
        "webhooks-dispatch": {"task": DISPATCH_TASK, "schedule": settings.webhook_dispatch_interval_s,
                              "options": {"queue": "webhooks", "expires": settings.webhook_dispatch_interval_s}},
        "rescans-feed": {"task": FEED_TASK, "schedule": settings.rescan_feed_interval_s,
                         "options": {"queue": "webhooks", "expires": settings.rescan_feed_interval_s}},
    }
    schedule["jobs-reap"] = {"task": REAP_TASK, "schedule": settings.reap_interval_s,
                             "options": {"queue": "webhooks", "expires": settings.reap_interval_s}}
    schedule["health-drift"] = {"task": DRIFT_TASK, "schedule": settings.drift_interval_s,
                                "options": {"queue": "webhooks", "expires": settings.drift_interval_s}}
    if settings.accuracy_interval_s:  # a model run of a few photos: about one batch on the audits pool
        schedule["health-accuracy"] = {"task": ACCURACY_TASK, "schedule": settings.accuracy_interval_s,
                                       "options": {"queue": "audits", "expires": settings.accuracy_interval_s}}
    if settings.rescan_cron:
        minute, hour, day, month, weekday = settings.rescan_cron.split()
        schedule["rescans-nightly"] = {"task": NIGHTLY_TASK, "options": {"queue": "webhooks"},
                                       "schedule": crontab(minute=minute, hour=hour, day_of_month=day,
                                                           month_of_year=month, day_of_week=weekday)}
    return schedule


def is_sqs(settings: Settings) -> bool:
    return settings.broker.startswith("sqs")


def transport_options(settings: Settings) -> dict:
    """Redis: the visibility timeout. SQS: that, the region, and the queues by URL.

    With ``predefined_queues`` Celery's SQS transport neither lists nor creates queues,
    so the pods need only send/receive/delete rights on the queues Terraform made
    (``SQS_QUEUE_URL_PREFIX`` + ``audits``/``rescans``/``webhooks``).
    """
    options: dict = {"visibility_timeout": settings.visibility_timeout_s}
    if is_sqs(settings):
        if not settings.sqs_queue_url_prefix:
            raise RuntimeError("BROKER_URL is sqs://: set SQS_QUEUE_URL_PREFIX "
                               "(terraform output sqs_queue_url_prefix)")
        options["region"] = settings.s3_region
        options["predefined_queues"] = {q: {"url": settings.sqs_queue_url_prefix + q} for q in QUEUES}
        options["wait_time_seconds"] = 10  # long polling: fewer empty receives, lower bill
        options["is_secure"] = settings.sqs_tls
    return options


def waiting(app: Celery, queue: str) -> int:
    """Messages waiting on a Redis queue, not yet fetched by any worker (LLEN of its list)."""
    with app.connection_for_read() as conn:
        return int(conn.default_channel.client.llen(queue))


def enqueue(app: Celery, item_id: str, queue: str = "audits", countdown: float | None = None,
            task: str = INFER_TASK) -> None:
    """Put one id (a job's, a delivery's) on its queue, after the row holding its state is committed."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}: one of {', '.join(QUEUES)}")
    app.send_task(task, args=[item_id], queue=queue, countdown=countdown)


def enqueue_rescan(app: Celery, job_id: str, version: str, run_id: str) -> None:
    app.send_task(RESCAN_TASK, args=[job_id, version, run_id], queue="rescans")


def enqueue_deliveries(app: Celery, delivery_ids: list[str]) -> None:
    for delivery_id in delivery_ids:
        enqueue(app, delivery_id, queue="webhooks", task=DELIVER_TASK)


def backoff_s(attempt: int, base_s: float = 2.0, cap_s: float = 300.0, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base·2^(attempt-1))].

    Full jitter spreads the retries of jobs that failed together (an S3 hiccup fails a
    whole batch) so they do not come back as one burst.
    """
    ceiling = min(cap_s, base_s * 2 ** max(0, attempt - 1))
    return (rng or random).uniform(0, ceiling)
