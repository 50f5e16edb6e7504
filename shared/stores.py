"""Stores and their sections, stock levels, and each finished audit's stock status.

A section is an aisle of a store; an audit of that store and aisle belongs to it. A
section may hold two levels in facings: ``target`` (below it the section is ``low``) and
``critical`` (below it ``critical``). When an audit finishes, its facings (summed over its
photos) set its stock status and its section's, in the transaction that finishes it; a
section that falls below its critical level gets one ``stock.low`` event through the
outbox, once per crossing (not on every audit while it stays down).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.errors import Conflict, FieldProblem, Invalid, NotFound
from shared.events import record_event
from shared.models import Audit, Job, Result, Section, StockStatus, Store

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _levels(critical: int | None, target: int | None) -> list[FieldProblem]:
    problems = []
    for name, value in (("critical", critical), ("target", target)):
        if value is not None and value < 0:
            problems.append(FieldProblem(name, f"invalid_{name}", f"{name}: facings, 0 or more"))
    if critical is not None and target is not None and critical > target:
        problems.append(FieldProblem("critical", "invalid_critical", "critical must not exceed target"))
    return problems


def create_store(session: Session, tenant_id: str, store_id: str, name: str | None = None) -> Store:
    if not _ID.fullmatch(store_id):
        raise Invalid.one("id", "invalid_id", "id: 1-64 letters, digits, '.', '_' or '-' (the audits' store_id)")
    store = Store(tenant_id=tenant_id, id=store_id, name=name, created_at=datetime.now(UTC))
    try:
        with session.begin_nested():
            session.add(store)
    except IntegrityError as exc:
        raise Conflict("store_exists", f"store {store_id} exists already") from exc
    return store


def get_store(session: Session, tenant_id: str, store_id: str) -> Store:
    store = session.get(Store, (tenant_id, store_id))
    if store is None:
        raise NotFound("store_not_found", f"no store {store_id}")
    return store


def list_stores(session: Session, tenant_id: str) -> list[Store]:
    return list(session.execute(select(Store).where(Store.tenant_id == tenant_id).order_by(Store.id)).scalars())


def add_section(session: Session, tenant_id: str, store_id: str, aisle: str, name: str | None = None,
                critical: int | None = None, target: int | None = None) -> Section:
    get_store(session, tenant_id, store_id)
    problems = _levels(critical, target)
    if problems:
        raise Invalid(problems)
    section = Section(id=uuid.uuid4(), tenant_id=tenant_id, store_id=store_id, aisle=aisle, name=name,
                      critical=critical, target=target, status=StockStatus.UNKNOWN, created_at=datetime.now(UTC))
    try:
        with session.begin_nested():
            session.add(section)
    except IntegrityError as exc:
        raise Conflict("section_exists", f"store {store_id} has a section for aisle {aisle} already") from exc
    return section


def get_section(session: Session, tenant_id: str, store_id: str, section_id: str) -> Section:
    try:
        section = session.get(Section, uuid.UUID(section_id))
    except ValueError:
        section = None
    if section is None or section.tenant_id != tenant_id or section.store_id != store_id:
        raise NotFound("section_not_found", f"no section {section_id} in store {store_id}")
    return section


def set_levels(section: Section, critical: int | None, target: int | None) -> Section:
    critical = section.critical if critical is None else critical
    target = section.target if target is None else target
    problems = _levels(critical, target)
    if problems:
        raise Invalid(problems)
    section.critical, section.target = critical, target
    return section


def list_sections(session: Session, tenant_id: str, store_id: str) -> list[Section]:
    get_store(session, tenant_id, store_id)
    return list(session.execute(select(Section).where(Section.tenant_id == tenant_id, Section.store_id == store_id)
                                .order_by(Section.aisle)).scalars())


def status_of(facings: int, critical: int | None, target: int | None) -> str:
    if critical is not None and facings < critical:
        return StockStatus.CRITICAL
    if target is not None and facings < target:
        return StockStatus.LOW
    if critical is None and target is None:
        return StockStatus.UNKNOWN
    return StockStatus.OK


def audit_finished(session: Session, audit_id: uuid.UUID) -> list[uuid.UUID]:
    """Facings and stock status of a finished audit and its section; ``stock.low`` on a crossing.

    Runs in the transaction that finishes the audit. Returns the webhook deliveries made.
    """
    audit = session.get(Audit, audit_id)
    if audit is None:
        return []
    facings = session.execute(
        select(func.coalesce(func.sum(Result.detection_count), 0)).join(Job, Job.id == Result.job_id)
        .where(Job.audit_id == audit_id, Result.model_version == Job.model_version)).scalar() or 0
    audit.facings = int(facings)
    section = session.execute(select(Section).where(Section.tenant_id == audit.tenant_id,
                                                    Section.store_id == audit.store_id,
                                                    Section.aisle == (audit.aisle or ""))
                              .with_for_update()).scalar_one_or_none()
    if section is None:
        return []
    status = status_of(audit.facings, section.critical, section.target)
    audit.stock_status = status
    crossed = status == StockStatus.CRITICAL and section.status != StockStatus.CRITICAL
    if status != section.status:
        section.status, section.status_at = status, datetime.now(UTC)
    if not crossed:
        return []
    data = {"section": section_view(section), "audit_id": str(audit.id), "facings": audit.facings}
    return record_event(session, audit.tenant_id, "stock.low", data).deliveries


def store_view(store: Store) -> dict:
    return {"id": store.id, "name": store.name, "created_at": store.created_at.isoformat()}


def section_view(section: Section) -> dict:
    return {"id": str(section.id), "store_id": section.store_id, "aisle": section.aisle, "name": section.name,
            "critical": section.critical, "target": section.target, "status": section.status,
            "status_at": section.status_at.isoformat() if section.status_at else None}
