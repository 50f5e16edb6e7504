"""Delivering events to webhook endpoints: one attempt, the dispatcher, the delivery log.

Postgres holds every delivery's state; the broker only carries delivery ids, as for jobs.

* ``attempt`` claims one due delivery (a lease in ``locked_until``, so a worker killed
  mid-request does not strand it), POSTs the event's stored body, signed, without
  following redirects, and records the attempt. A 2xx is delivered; 410 Gone disables
  the endpoint; anything else (another status, a timeout, a refused connection) is tried
  again after an exponential backoff with full jitter, until the retry window
  (``WEBHOOK_RETRY_FOR_S``) has passed, then the delivery is dead.
* ``due`` is the dispatcher (beat, every ``WEBHOOK_DISPATCH_INTERVAL_S``): the ids of
  deliveries whose next attempt is due and that no task holds, marked as enqueued.

Ordering is not promised and a delivery may arrive twice (a worker killed after the
receiver answered): receivers dedupe by the event id.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from shared.celery_app import backoff_s
from shared.errors import Invalid, NotFound
from shared.events import get_event
from shared.models import Delivery, DeliveryAttempt, DeliveryStatus, Event, Job, RescanRun, RunState, WebhookEndpoint
from shared.settings import Settings
from shared.views import keyset_page
from shared.webhooks import SIGNATURE_HEADER, check_url, disable, get_endpoint, sign, signing_secrets

EXCERPT_BYTES = 1024


def user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"ShelfWatch-Webhooks/{version('shelfwatch')}"
    except PackageNotFoundError:
        return "ShelfWatch-Webhooks/dev"


@dataclass(frozen=True)
class Outcome:
    delivery_id: str
    result: str  # delivered | retry | dead | skipped
    status_code: int | None = None
    latency_ms: float = 0.0


def _lease_s(settings: Settings) -> float:
    # longer than one attempt can take, so a live attempt is never taken twice
    return 2 * (settings.webhook_connect_timeout_s + settings.webhook_read_timeout_s) + 1


def _claim(factory: sessionmaker[Session], delivery_id: uuid.UUID,
           settings: Settings) -> tuple[Delivery, Event, WebhookEndpoint] | None:
    now = datetime.now(UTC)
    with factory() as session, session.begin():
        delivery = session.execute(
            select(Delivery).where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.PENDING,
                                   Delivery.next_attempt_at <= now,
                                   or_(Delivery.locked_until.is_(None), Delivery.locked_until < now))
            .with_for_update(skip_locked=True)).scalar_one_or_none()
        if delivery is None:
            return None  # delivered, dead, not yet due, or another worker is on it
        delivery.locked_until = now + timedelta(seconds=_lease_s(settings))
        event = session.get(Event, delivery.event_id)
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        if event is None or endpoint is None:
            return None
        session.expunge_all()
        return delivery, event, endpoint


def _post(http: requests.Session, endpoint: WebhookEndpoint, event: Event,
          settings: Settings) -> tuple[int | None, str | None, str | None, float]:
    """(status code, error, first KB of the response, latency ms) of one POST."""
    body = event.body.encode()
    headers = {"Content-Type": "application/json", "User-Agent": user_agent(),
               "ShelfWatch-Event-Id": str(event.id), "ShelfWatch-Event-Type": event.type,
               SIGNATURE_HEADER: sign(signing_secrets(endpoint), body)}
    t0 = time.perf_counter()
    try:
        check_url(endpoint.url, settings)  # again: DNS may point elsewhere since registration
        r = http.post(endpoint.url, data=body, headers=headers, allow_redirects=False,
                      timeout=(settings.webhook_connect_timeout_s, settings.webhook_read_timeout_s))
        excerpt = r.content[:EXCERPT_BYTES].decode("utf-8", "replace")
        return r.status_code, None, excerpt, (time.perf_counter() - t0) * 1e3
    except Invalid as exc:
        return None, f"refused: {exc.message}", None, (time.perf_counter() - t0) * 1e3
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500], None, (time.perf_counter() - t0) * 1e3


def attempt(factory: sessionmaker[Session], settings: Settings, delivery_id: str,
            http: requests.Session | None = None) -> Outcome:
    """One delivery attempt, recorded; the caller needs nothing but the id."""
    claimed = _claim(factory, uuid.UUID(delivery_id), settings)
    if claimed is None:
        return Outcome(delivery_id, "skipped")
    delivery, event, endpoint = claimed
    code: int | None
    error: str | None
    excerpt: str | None
    if not endpoint.enabled:
        code, error, excerpt, latency = None, f"endpoint disabled: {endpoint.disabled_reason}", None, 0.0
    else:
        code, error, excerpt, latency = _post(http or requests.Session(), endpoint, event, settings)
    now = datetime.now(UTC)
    attempts = delivery.attempts + 1
    values: dict = {"attempts": attempts, "locked_until": None, "enqueued_at": None,
                    "last_status_code": code, "last_error": error}
    if code is not None and 200 <= code < 300:
        result = "delivered"
        values.update(status=DeliveryStatus.DELIVERED, finished_at=now)
    elif code == 410 or not endpoint.enabled:
        result = "dead"
        values.update(status=DeliveryStatus.DEAD, finished_at=now)
    else:
        wait = backoff_s(attempts, settings.webhook_backoff_base_s, settings.webhook_backoff_cap_s)
        if now + timedelta(seconds=wait) > delivery.retrying_since + timedelta(seconds=settings.webhook_retry_for_s):
            result = "dead"
            values.update(status=DeliveryStatus.DEAD, finished_at=now)
        else:
            result = "retry"
            values.update(next_attempt_at=now + timedelta(seconds=wait))
    with factory() as session, session.begin():
        session.add(DeliveryAttempt(delivery_id=delivery.id, attempted_at=now, status_code=code,
                                    latency_ms=round(latency, 1), error=error, response_excerpt=excerpt))
        session.execute(update(Delivery).where(Delivery.id == delivery.id).values(**values))
        if code == 410 and endpoint.enabled:
            live = session.get(WebhookEndpoint, endpoint.id)
            if live is not None:
                disable(live, "the endpoint answered 410 Gone")
    return Outcome(delivery_id, result, code, latency)


def due(factory: sessionmaker[Session], limit: int = 500, requeue_after_s: float = 60) -> list[str]:
    """Deliveries to send now, marked enqueued.

    Due and not held: never enqueued, enqueued over ``requeue_after_s`` ago (the message
    was lost), or claimed by an attempt whose lease ran out (its worker died mid-request;
    a finished attempt clears the lease). The mark clears that lapsed lease, so the
    delivery is enqueued once, not on every tick until a worker takes it.
    """
    now = datetime.now(UTC)
    with factory() as session, session.begin():
        ids = list(session.execute(
            select(Delivery.id).where(
                Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= now,
                or_(Delivery.locked_until.is_(None), Delivery.locked_until < now),
                or_(Delivery.enqueued_at.is_(None), Delivery.enqueued_at < now - timedelta(seconds=requeue_after_s),
                    Delivery.locked_until < now))
            .order_by(Delivery.next_attempt_at).limit(limit).with_for_update(skip_locked=True)).scalars())
        if ids:
            session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(enqueued_at=now, locked_until=None))
    return [str(i) for i in ids]


def farm_state(session: Session) -> dict:
    """Queued and running jobs and the oldest queued job's age per queue; photos left to re-scan."""
    now = datetime.now(UTC)
    rows = session.execute(select(Job.queue, Job.status, func.count(), func.min(Job.queued_at))
                           .where(Job.status.in_(("queued", "running"))).group_by(Job.queue, Job.status)).all()
    jobs = {(q, s): n for q, s, n, _ in rows}
    oldest = {q: (now - t).total_seconds() for q, s, _, t in rows if s == "queued" and t is not None}
    remaining = session.execute(select(func.coalesce(func.sum(func.greatest(
        RescanRun.total - RescanRun.skipped - RescanRun.done - RescanRun.failed, 0)), 0))
        .where(RescanRun.state == RunState.RUNNING)).scalar()
    return {"jobs": jobs, "oldest_queued_s": oldest, "rescan_remaining": int(remaining or 0)}


def health(session: Session) -> dict:
    """Deliveries by status and the age of the oldest pending one (seconds; 0 when none)."""
    counts = dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
    oldest = session.execute(select(func.min(Delivery.created_at)).where(
        Delivery.status == DeliveryStatus.PENDING)).scalar()
    age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
    return {"by_status": {s: counts.get(s, 0) for s in DeliveryStatus.ALL}, "oldest_pending_s": age}


# --- the delivery log ---------------------------------------------------------------------

def delivery_view(delivery: Delivery, attempts: list[DeliveryAttempt]) -> dict:
    return {
        "id": str(delivery.id), "event_id": str(delivery.event_id), "endpoint_id": str(delivery.endpoint_id),
        "status": delivery.status, "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at.isoformat() if delivery.status == "pending" else None,
        "last_status_code": delivery.last_status_code, "last_error": delivery.last_error,
        "created_at": delivery.created_at.isoformat(),
        "finished_at": delivery.finished_at.isoformat() if delivery.finished_at else None,
        "log": [{"at": a.attempted_at.isoformat(), "status_code": a.status_code, "latency_ms": a.latency_ms,
                 "error": a.error, "response": a.response_excerpt} for a in attempts],
    }


def list_deliveries(session: Session, tenant_id: str, endpoint_id: str, *, status: str | None = None,
                    limit: int = 50, cursor: str | None = None) -> tuple[list[dict], str | None]:
    endpoint = get_endpoint(session, tenant_id, endpoint_id)
    query = select(Delivery).where(Delivery.endpoint_id == endpoint.id)
    if status is not None:
        query = query.where(Delivery.status == status)
    rows, next_cursor = keyset_page(session, query, Delivery, limit, cursor)
    logs: dict[uuid.UUID, list[DeliveryAttempt]] = {d.id: [] for d in rows}
    for a in session.execute(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(list(logs)))
                             .order_by(DeliveryAttempt.id)).scalars():
        logs[a.delivery_id].append(a)
    return [delivery_view(d, logs[d.id]) for d in rows], next_cursor


def redeliver(session: Session, tenant_id: str, event_id: str) -> list[uuid.UUID]:
    """Send an event again to every endpoint that got it (and enabled ones subscribed since)."""
    event = get_event(session, tenant_id, event_id)
    now = datetime.now(UTC)
    existing = list(session.execute(select(Delivery).where(Delivery.event_id == event.id)).scalars())
    for d in existing:
        d.status, d.next_attempt_at, d.retrying_since = DeliveryStatus.PENDING, now, now
        d.locked_until = d.enqueued_at = d.finished_at = None
    if not existing:
        raise NotFound("no_deliveries", f"event {event_id} was not sent to any webhook; pull it from /v1/events")
    return [d.id for d in existing]
