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
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared import analytics, planogram
from shared.errors import Conflict, FieldProblem, Invalid, NotFound
from shared.events import record_event
from shared.imaging import PhotoError, decode
from shared.models import Activity, Audit, AuditStatus, Job, Result, Section, StockStatus, Store
from shared.views import get_job, keyset_page

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _levels(critical: int | None, target: int | None) -> list[FieldProblem]:
    problems = []
    for name, value in (("critical", critical), ("target", target)):
        if value is not None and value < 0:
            problems.append(FieldProblem(name, f"invalid_{name}", f"{name}: facings, 0 or more"))
    if critical is not None and target is not None and critical > target:
        problems.append(FieldProblem("critical", "invalid_critical", "critical must not exceed target"))
    return problems


def _row_levels(rows: list[dict | None] | None) -> list[FieldProblem]:
    problems = []
    for i, row in enumerate(rows or []):
        if row is not None:
            problems += [FieldProblem(f"rows.{i}.{p.field}", p.code, f"row {i}: {p.message}")
                         for p in _levels(row.get("critical"), row.get("target"))]
    return problems


def _insert(session: Session, row: Store | Section, conflict: Conflict) -> None:
    """Add ``row`` now, in a savepoint: a unique key taken already is ``conflict``, not a failed transaction."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise conflict from exc


def create_store(session: Session, tenant_id: str, store_id: str, name: str | None = None) -> Store:
    if not _ID.fullmatch(store_id):
        raise Invalid.one("id", "invalid_id", "id: 1-64 letters, digits, '.', '_' or '-' (the audits' store_id)")
    store = Store(tenant_id=tenant_id, id=store_id, name=name, created_at=datetime.now(UTC))
    _insert(session, store, Conflict("store_exists", f"store {store_id} exists already"))
    return store


def get_store(session: Session, tenant_id: str, store_id: str) -> Store:
    store = session.get(Store, (tenant_id, store_id))
    if store is None:
        raise NotFound("store_not_found", f"no store {store_id}")
    return store


def list_stores(session: Session, tenant_id: str) -> list[Store]:
    return list(session.execute(select(Store).where(Store.tenant_id == tenant_id).order_by(Store.id)).scalars())


def add_section(session: Session, tenant_id: str, store_id: str, aisle: str, name: str | None = None,
                critical: int | None = None, target: int | None = None,
                rows: list[dict | None] | None = None) -> Section:
    """``rows``: levels per shelf row from the top (``{"critical": n, "target": m}``, or None for none)."""
    get_store(session, tenant_id, store_id)
    problems = _levels(critical, target) + _row_levels(rows)
    if problems:
        raise Invalid(problems)
    section = Section(id=uuid.uuid4(), tenant_id=tenant_id, store_id=store_id, aisle=aisle, name=name,
                      critical=critical, target=target, row_levels=rows or None, status=StockStatus.UNKNOWN,
                      created_at=datetime.now(UTC))
    _insert(session, section, Conflict("section_exists", f"store {store_id} has a section for aisle {aisle} already"))
    return section


def get_section(session: Session, tenant_id: str, store_id: str, section_id: str) -> Section:
    try:
        section = session.get(Section, uuid.UUID(section_id))
    except ValueError:
        section = None
    if section is None or section.tenant_id != tenant_id or section.store_id != store_id:
        raise NotFound("section_not_found", f"no section {section_id} in store {store_id}")
    return section


_KEEP: list = []  # ``rows`` not given: the row levels stay as they are


def set_levels(section: Section, critical: int | None, target: int | None, session: Session | None = None,
               rows: list[dict | None] | None = _KEEP) -> Section:
    """New levels; None keeps a total level as it is; ``rows`` replaces every row's (None or [] clears them)."""
    critical = section.critical if critical is None else critical
    target = section.target if target is None else target
    rows = section.row_levels if rows is _KEEP else (rows or None)
    problems = _levels(critical, target) + _row_levels(rows)
    if problems:
        raise Invalid(problems)
    if session is not None and (critical, target, rows) != (section.critical, section.target, section.row_levels):
        record_activity(session, section.tenant_id, section.store_id, "levels_changed",
                        {"section_id": str(section.id), "aisle": section.aisle, "critical": critical, "target": target,
                         "rows": rows, "was": {"critical": section.critical, "target": section.target,
                                               "rows": section.row_levels}})
    section.critical, section.target, section.row_levels = critical, target, rows
    return section


def change_levels(session: Session, section: Section, critical: int | None, target: int | None,
                  rows: list[dict | None] | None = _KEEP) -> list[uuid.UUID]:
    """New stock levels, and the section judged again at once against its newest audit.

    Returns the webhook deliveries made (``stock.low``), pending in the outbox: the caller
    enqueues them after its commit, or beat's dispatcher sends them.
    """
    set_levels(section, critical, target, session, rows)
    return rejudge(session, section)


def set_planogram(session: Session, section: Section, layout: dict | None,
                  fetch: Callable[[str], bytes]) -> Section:
    """The section's expected layout (validated by the gateway's schema); None removes it.

    Each named product's reference (a job of this tenant and a box on its photo) becomes
    its ``appearance``, computed once here from the photo (``fetch``: its bytes by storage
    key) the way the worker computes a product group's, so audits are matched without
    reading the reference photo again.
    """
    problems: list[FieldProblem] = []
    for r, row in enumerate((layout or {}).get("rows", [])):
        for p, product in enumerate(row.get("products") or []):
            field = f"rows.{r}.products.{p}.reference"
            ref = product["reference"]
            try:
                job = get_job(session, section.tenant_id, ref["job_id"])
                photo = decode(fetch(job.photo_key), target_size=320)
            except NotFound:
                problems.append(FieldProblem(f"{field}.job_id", "reference_not_found",
                                             f"no job {ref['job_id']} of yours to take the reference from"))
                continue
            except PhotoError:
                problems.append(FieldProblem(f"{field}.job_id", "reference_undecodable",
                                             "the reference job's photo cannot be decoded"))
                continue
            x1, y1, x2, y2 = ref["box"]
            if not (0 <= x1 < x2 <= photo.width and 0 <= y1 < y2 <= photo.height):
                problems.append(FieldProblem(f"{field}.box", "reference_box_outside",
                                             f"the box must lie within the {photo.width}x{photo.height} photo "
                                             f"with x1 < x2 and y1 < y2"))
                continue
            product["appearance"] = analytics.appearance_of(photo.image, ref["box"], 1.0 / photo.scale_to_original)
            if product["appearance"] is None:
                problems.append(FieldProblem(f"{field}.box", "reference_box_outside", "the box holds no pixels"))
    if problems:
        raise Invalid(problems)
    section.planogram = layout
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


_SEVERITY = [StockStatus.UNKNOWN, StockStatus.OK, StockStatus.LOW, StockStatus.CRITICAL]


def row_statuses(section: Section, row_facings: list[int]) -> list[dict]:
    """Each row with levels, judged on its facings (a row the audit did not find has none)."""
    out = []
    for i, levels in enumerate(section.row_levels or []):
        if levels is not None:
            have = row_facings[i] if i < len(row_facings) else 0
            out.append({"row": i, "facings": have, "critical": levels.get("critical"), "target": levels.get("target"),
                        "status": status_of(have, levels.get("critical"), levels.get("target"))})
    return out


def judge(section: Section, facings: int, row_facings: list[int]) -> str:
    """The section's status: the worst of its total's and each row's that has levels."""
    found = [status_of(facings, section.critical, section.target)]
    found += [r["status"] for r in row_statuses(section, row_facings)]
    return max(found, key=_SEVERITY.index)


def _row_facings(analyses: list[dict]) -> list[int]:
    """Facings per shelf row over an audit's photos (row i of each photo counts for row i)."""
    rows: list[int] = []
    for analysis in analyses:
        for row in analysis.get("rows", []):
            rows += [0] * (row["index"] + 1 - len(rows))
            rows[row["index"]] += row["facings"]
    return rows


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
    audit.missing_facings = int(session.execute(
        select(func.coalesce(func.sum(Result.analytics["missing_facings"].as_integer()), 0))
        .join(Job, Job.id == Result.job_id)
        .where(Job.audit_id == audit_id, Result.model_version == Job.model_version)).scalar() or 0)
    section = session.execute(select(Section).where(Section.tenant_id == audit.tenant_id,
                                                    Section.store_id == audit.store_id,
                                                    Section.aisle == (audit.aisle or ""))
                              .with_for_update()).scalar_one_or_none()
    done = {"audit_id": str(audit.id), "aisle": audit.aisle, "status": audit.status, "facings": audit.facings,
            "missing_facings": audit.missing_facings}
    if section is None or audit.status == AuditStatus.FAILED:
        # no photo was read (all failed: not a shelf, never uploaded): nothing to judge the stock on
        record_activity(session, audit.tenant_id, audit.store_id, "audit_done", done)
        return []
    analyses = [a for a in session.execute(
        select(Result.analytics).join(Job, Job.id == Result.job_id)
        .where(Job.audit_id == audit_id, Result.model_version == Job.model_version).order_by(Job.position)
    ).scalars() if a]
    audit.row_facings = _row_facings(analyses)
    status = judge(section, audit.facings, audit.row_facings)
    audit.stock_status = status
    if section.planogram is not None:
        audit.compliance = planogram.compliance(section.planogram, analyses)
    record_activity(session, audit.tenant_id, audit.store_id, "audit_done", {**done, "stock_status": status})
    return _move_status(session, section, status, audit)


def _move_status(session: Session, section: Section, status: str, audit: Audit) -> list[uuid.UUID]:
    """The section's status becomes ``status`` (judged on ``audit``): alert raised on entering
    critical (with ``stock.low``), cleared on leaving it. Returns the webhook deliveries made."""
    crossed = status == StockStatus.CRITICAL and section.status != StockStatus.CRITICAL
    if section.status == StockStatus.CRITICAL and status != StockStatus.CRITICAL:
        record_activity(session, section.tenant_id, section.store_id, "alert_cleared",
                        {"section_id": str(section.id), "aisle": section.aisle, "status": status})
    if status != section.status:
        section.status, section.status_at = status, datetime.now(UTC)
    if not crossed:
        return []
    rows = row_statuses(section, audit.row_facings or [])
    record_activity(session, section.tenant_id, section.store_id, "alert_raised",
                    {"section_id": str(section.id), "aisle": section.aisle, "facings": audit.facings,
                     "critical": section.critical, "rows": rows})
    data = {"section": section_view(section), "audit_id": str(audit.id), "facings": audit.facings, "rows": rows}
    return record_event(session, section.tenant_id, "stock.low", data).deliveries


def rejudge(session: Session, section: Section) -> list[uuid.UUID]:
    """After its levels changed: the section's status against its newest finished audit's facings.

    A section with no finished audit stays as it is (unknown). Returns the deliveries made.
    """
    audit = session.execute(select(Audit).where(
        Audit.tenant_id == section.tenant_id, Audit.store_id == section.store_id, Audit.aisle == section.aisle,
        Audit.finished_at.is_not(None), Audit.facings.is_not(None)).order_by(Audit.finished_at.desc()).limit(1)
    ).scalar_one_or_none()
    if audit is None:
        return []
    return _move_status(session, section, judge(section, audit.facings or 0, audit.row_facings or []), audit)


def store_view(store: Store) -> dict:
    return {"id": store.id, "name": store.name, "created_at": store.created_at.isoformat()}


def section_view(section: Section) -> dict:
    return {"id": str(section.id), "store_id": section.store_id, "aisle": section.aisle, "name": section.name,
            "critical": section.critical, "target": section.target, "rows": section.row_levels,
            "status": section.status,
            "status_at": section.status_at.isoformat() if section.status_at else None,
            "planogram": _planogram_view(section.planogram)}


def _planogram_view(layout: dict | None) -> dict | None:
    """The planogram as it was set: without the appearances computed from its references."""
    if layout is None:
        return None
    rows = [{**row, "products": [{k: v for k, v in p.items() if k != "appearance"} for p in row["products"]]}
            if row.get("products") else row for row in layout.get("rows", [])]
    return {**layout, "rows": rows}


# --- history and activity ---------------------------------------------------------------------

def record_activity(session: Session, tenant_id: str, store_id: str, kind: str, detail: dict) -> None:
    session.add(Activity(id=uuid.uuid4(), tenant_id=tenant_id, store_id=store_id, kind=kind,
                         created_at=datetime.now(UTC), detail=detail))


def activity(session: Session, tenant_id: str, store_id: str, limit: int = 50,
             cursor: str | None = None) -> tuple[list[dict], str | None]:
    """What happened in a store, newest first (keyset pages)."""
    get_store(session, tenant_id, store_id)
    query = select(Activity).where(Activity.tenant_id == tenant_id, Activity.store_id == store_id)
    rows, next_cursor = keyset_page(session, query, Activity, limit, cursor)
    return [{"id": str(a.id), "kind": a.kind, "at": a.created_at.isoformat(), "detail": a.detail} for a in rows], \
        next_cursor


def stock_history(session: Session, tenant_id: str, store_id: str, since: datetime | None = None,
                  until: datetime | None = None, aisle: str | None = None, limit: int = 500) -> list[dict]:
    """One point per finished audit of the store: facings, missing facings (gaps), stock status."""
    get_store(session, tenant_id, store_id)
    query = select(Audit).where(Audit.tenant_id == tenant_id, Audit.store_id == store_id,
                                Audit.finished_at.is_not(None))
    if since is not None:
        query = query.where(Audit.finished_at >= since)
    if until is not None:
        query = query.where(Audit.finished_at < until)
    if aisle is not None:
        query = query.where(Audit.aisle == aisle)
    rows = session.execute(query.order_by(Audit.finished_at).limit(limit)).scalars()
    return [{"audit_id": str(a.id), "at": a.finished_at.isoformat() if a.finished_at else None, "aisle": a.aisle,
             "facings": a.facings, "row_facings": a.row_facings, "missing_facings": a.missing_facings,
             "stock_status": a.stock_status,
             "compliance": a.compliance["score"] if a.compliance else None}
            for a in rows]
