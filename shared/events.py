"""Events through an outbox: written in the transaction of the state change they report.

``record_event`` inserts the event (its exact JSON body) and one pending delivery for each
enabled endpoint of the tenant that subscribed to its type, inside the caller's
transaction. So the last job of an audit finishing, the audit's new status and its
``audit.completed`` are one commit: a crash before it leaves neither, after it both. The
webhook worker delivers pending deliveries; clients may also pull events
(``GET /v1/events``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, insert, select
from sqlalchemy.orm import Session

from shared.errors import NotFound
from shared.models import Audit, Delivery, DeliveryStatus, Event, Job, Result, WebhookEndpoint
from shared.views import keyset_page

EVENT_TYPES = ("audit.completed", "audit.failed", "stock.low", "rescan.completed", "ping")
ALL_EVENTS = "*"


@dataclass(frozen=True)
class Recorded:
    event_id: uuid.UUID
    deliveries: list[uuid.UUID]  # to enqueue after the commit (the dispatcher finds them anyway)


def record_event(session: Session, tenant_id: str, type_: str, data: dict,
                 endpoints: list[uuid.UUID] | None = None) -> Recorded:
    """Insert an event and its pending deliveries in the caller's transaction.

    ``endpoints``: deliver to these only (a test ping); else to every enabled endpoint of
    the tenant subscribed to ``type_``.
    """
    event_id, now = uuid.uuid4(), datetime.now(UTC)
    body = json.dumps({"id": str(event_id), "type": type_, "created_at": now.isoformat(), "tenant": tenant_id,
                       "data": data}, separators=(",", ":"), sort_keys=True)
    session.execute(insert(Event).values(id=event_id, tenant_id=tenant_id, type=type_, created_at=now, body=body))
    query = select(WebhookEndpoint.id).where(WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.enabled)
    if endpoints is not None:
        query = query.where(WebhookEndpoint.id.in_(endpoints))
    else:
        query = query.where(WebhookEndpoint.events.overlap([type_, ALL_EVENTS]))
    targets = list(session.execute(query).scalars())
    ids = [uuid.uuid4() for _ in targets]
    if targets:
        session.execute(insert(Delivery), [
            {"id": d, "tenant_id": tenant_id, "event_id": event_id, "endpoint_id": e,
             "status": DeliveryStatus.PENDING, "next_attempt_at": now, "retrying_since": now}
            for d, e in zip(ids, targets, strict=True)])
    return Recorded(event_id, ids)


def audit_event(session: Session, audit_id: uuid.UUID, public_url: str = "") -> tuple[str, str, dict]:
    """(tenant, type, data) of the event that reports a finished audit."""
    audit = session.get(Audit, audit_id)
    if audit is None:
        raise NotFound("audit_not_found", f"no audit {audit_id}")
    rows = session.execute(
        select(Job, Result).outerjoin(Result, and_(Result.job_id == Job.id, Result.model_version == Job.model_version))
        .where(Job.audit_id == audit_id).order_by(Job.position)).all()
    totals: dict[str, int] = {}
    jobs = []
    for job, result in rows:
        counts = result.counts if result is not None else {}
        for name, n in counts.items():
            totals[name] = totals.get(name, 0) + n
        entry: dict = {"id": str(job.id), "status": job.status, "counts": counts, "model_version": job.model_version}
        if result is not None and result.analytics:
            entry["gaps"] = len(result.analytics["gaps"])
            entry["missing_facings"] = result.analytics["missing_facings"]
        if job.failure_code:
            entry["failure"] = {"code": job.failure_code, "reason": job.failure_reason}
        jobs.append(entry)
    data = {"audit": {
        "id": str(audit.id), "store_id": audit.store_id, "aisle": audit.aisle, "status": audit.status,
        "captured_at": audit.captured_at.isoformat() if audit.captured_at else None,
        "created_at": audit.created_at.isoformat() if audit.created_at else None,
        "finished_at": audit.finished_at.isoformat() if audit.finished_at else None,
        "counts": dict(sorted(totals.items())),
        "facings": audit.facings, "stock_status": audit.stock_status,
        "model_versions": sorted({j["model_version"] for j in jobs if j["model_version"]}),
        "jobs": jobs,
        "links": {"audit": f"{public_url.rstrip('/')}/v1/audits/{audit.id}"},
    }}
    return audit.tenant_id, "audit.failed" if audit.status == "failed" else "audit.completed", data


# --- reading events -----------------------------------------------------------------------

def event_view(event: Event) -> dict:
    return json.loads(event.body)


def get_event(session: Session, tenant_id: str, event_id: str) -> Event:
    try:
        event = session.get(Event, uuid.UUID(event_id))
    except ValueError:
        event = None
    if event is None or event.tenant_id != tenant_id:
        raise NotFound("event_not_found", f"no event {event_id}")
    return event


def list_events(session: Session, tenant_id: str, *, type_: str | None = None, since: datetime | None = None,
                limit: int = 50, cursor: str | None = None) -> tuple[list[dict], str | None]:
    """A tenant's events, newest first (keyset pages, like audits)."""
    query = select(Event).where(Event.tenant_id == tenant_id)
    if type_ is not None:
        query = query.where(Event.type == type_)
    if since is not None:
        query = query.where(Event.created_at >= since)
    rows, next_cursor = keyset_page(session, query, Event, limit, cursor)
    return [event_view(e) for e in rows], next_cursor
