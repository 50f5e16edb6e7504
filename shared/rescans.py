"""Re-scan runs: stored photos analysed again with one model version, fed in chunks.

A run is a row: scope (tenant, store, since/until on the audit's creation; photos done
before the run started), model version, counters and state. Nothing of the scope is held
in memory or on the broker at once: ``feed`` (beat, every ``RESCAN_FEED_INTERVAL_S``)
tops each running run up to ``RESCAN_MAX_IN_FLIGHT`` messages, ``RESCAN_CHUNK`` at a
time, walking the scope by job id (a keyset cursor) and sending only photos without a
result of that version. In flight = sent - handled; the re-scan task counts what it
handled in the transaction that writes the results, so counts survive a killed worker.
Messages lost with a killed worker show as no progress for ``RESCAN_STALL_S``: the run is
then walked again from the start (the photos done since are skipped by the same query).
A run completes when a walk from the start finds nothing left to send and nothing is in
flight; ``rescan.completed`` then goes through the outbox.

Results are written beside the old ones, keyed by (job, model version): nothing is
overwritten, and a job's served result stays the one of the version that served it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Select

from shared.batches import _failure, analyse_photo, insert_result
from shared.detector import Detector
from shared.errors import Conflict, DomainError, Invalid, NotFound
from shared.events import record_event
from shared.model_store import ModelStore
from shared.models import Audit, Job, JobStatus, RescanFailure, RescanRun, Result, RunState
from shared.storage import PhotoStore


@dataclass(frozen=True)
class Scope:
    tenant_id: str | None = None
    store_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _scope_query(scope: Scope, frozen_at: datetime) -> Select:
    """Jobs of the scope: photos analysed (done) before the run began."""
    query = select(Job.id).join(Audit, Audit.id == Job.audit_id).where(
        Job.status == JobStatus.DONE, Job.queued_at <= frozen_at)
    if scope.tenant_id is not None:
        query = query.where(Job.tenant_id == scope.tenant_id)
    if scope.store_id is not None:
        query = query.where(Audit.store_id == scope.store_id)
    if scope.since is not None:
        query = query.where(Audit.created_at >= scope.since)
    if scope.until is not None:
        query = query.where(Audit.created_at < scope.until)
    return query


def _has_result(version: str):
    return exists().where(Result.job_id == Job.id, Result.model_version == version)


def _run_scope(run: RescanRun) -> Scope:
    return Scope(run.tenant_id, run.store_id, run.since, run.until)


# --- creating and steering runs -----------------------------------------------------------

def plan(session: Session, scope: Scope, version: str, now: datetime | None = None) -> dict:
    """What a run would do: photos in scope, and how many already have a result of ``version``."""
    query = _scope_query(scope, now or datetime.now(UTC)).subquery()
    total = session.execute(select(func.count()).select_from(query)).scalar() or 0
    skipped = session.execute(select(func.count()).select_from(query).where(exists().where(
        Result.job_id == query.c.id, Result.model_version == version))).scalar() or 0
    return {"total": total, "skipped": skipped, "to_scan": total - skipped}


def create_run(session: Session, scope: Scope, version: str, known_versions: set[str],
               created_by: str | None = None) -> RescanRun:
    if version not in known_versions:
        raise Invalid.one("model_version", "invalid_model_version",
                          f"model_version: one of the registry's versions ({', '.join(sorted(known_versions))})")
    if scope.since and scope.until and scope.since >= scope.until:
        raise Invalid.one("until", "invalid_until", "until must be after since")
    now = datetime.now(UTC)
    counts = plan(session, scope, version, now)
    run = RescanRun(id=uuid.uuid4(), tenant_id=scope.tenant_id, store_id=scope.store_id, since=scope.since,
                    until=scope.until, model_version=version, state=RunState.RUNNING, total=counts["total"],
                    skipped=counts["skipped"], done=0, failed=0, sent=0, handled=0, pass_sent=0,
                    created_by=created_by, created_at=now, progress_at=now)
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, run_id: str, tenant_id: str | None = None, lock: bool = False) -> RescanRun:
    try:
        query = select(RescanRun).where(RescanRun.id == uuid.UUID(run_id))
    except ValueError as exc:
        raise NotFound("rescan_not_found", f"no re-scan {run_id}") from exc
    run = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if run is None or (tenant_id is not None and run.tenant_id != tenant_id):
        raise NotFound("rescan_not_found", f"no re-scan {run_id}")
    return run


_MOVES = {"pause": ({RunState.RUNNING}, RunState.PAUSED), "resume": ({RunState.PAUSED}, RunState.RUNNING),
          "cancel": ({RunState.RUNNING, RunState.PAUSED}, RunState.CANCELLED)}


def steer(session: Session, run: RescanRun, action: str) -> RescanRun:
    allowed, target = _MOVES[action]
    if run.state not in allowed:
        raise Conflict("rescan_state", f"a {run.state} re-scan cannot {action}")
    run.state = target
    if target == RunState.CANCELLED:
        run.finished_at = datetime.now(UTC)
    if target == RunState.RUNNING:
        run.progress_at = datetime.now(UTC)
    return run


def list_runs(session: Session, tenant_id: str | None, limit: int = 50) -> list[RescanRun]:
    query = select(RescanRun).order_by(RescanRun.created_at.desc()).limit(limit)
    if tenant_id is not None:
        query = query.where(RescanRun.tenant_id == tenant_id)
    return list(session.execute(query).scalars())


def run_view(run: RescanRun, now: datetime | None = None) -> dict:
    now = now or datetime.now(UTC)
    remaining = max(0, run.total - run.skipped - run.done - run.failed)
    end = run.finished_at or now
    elapsed = max((end - run.created_at).total_seconds(), 1e-3)
    rate = (run.done + run.failed) / elapsed
    return {
        "id": str(run.id), "state": run.state, "model_version": run.model_version,
        "scope": {"tenant": run.tenant_id, "store_id": run.store_id,
                  "since": run.since.isoformat() if run.since else None,
                  "until": run.until.isoformat() if run.until else None},
        "total": run.total, "skipped": run.skipped, "done": run.done, "failed": run.failed, "remaining": remaining,
        "in_flight": max(0, run.sent - run.handled),
        "rate_per_s": round(rate, 2),
        "eta_s": round(remaining / rate, 1) if rate > 0 and run.state == RunState.RUNNING else None,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


# --- feeding --------------------------------------------------------------------------------

@dataclass
class Feed:
    messages: list[tuple[str, str, str]] = field(default_factory=list)  # (job, version, run) to enqueue
    completed: list[str] = field(default_factory=list)
    deliveries: list[uuid.UUID] = field(default_factory=list)  # rescan.completed webhooks


def feed(factory: sessionmaker[Session], chunk: int, max_in_flight: int, stall_s: float) -> Feed:
    """One step of every running run; the caller enqueues ``messages`` after this commit."""
    out = Feed()
    now = datetime.now(UTC)
    with factory() as session, session.begin():
        runs = list(session.execute(select(RescanRun).where(RescanRun.state == RunState.RUNNING)
                                    .with_for_update(skip_locked=True)).scalars())
        for run in runs:
            in_flight = run.sent - run.handled
            if in_flight > 0 and run.progress_at and now - run.progress_at > timedelta(seconds=stall_s):
                # its messages were lost (a killed worker): forget them and walk the scope again
                run.handled, run.cursor, run.pass_sent, run.progress_at = run.sent, None, 0, now
                in_flight = 0
            room = min(chunk, max_in_flight - in_flight)
            if room <= 0:
                continue
            query = (_scope_query(_run_scope(run), run.created_at)
                     .where(~_has_result(run.model_version),
                            ~exists().where(RescanFailure.run_id == run.id, RescanFailure.job_id == Job.id))
                     .order_by(Job.id).limit(room))
            if run.cursor is not None:
                query = query.where(Job.id > run.cursor)
            ids = list(session.execute(query).scalars())
            if ids:
                out.messages += [(str(j), run.model_version, str(run.id)) for j in ids]
                run.cursor, run.sent, run.pass_sent = ids[-1], run.sent + len(ids), run.pass_sent + len(ids)
            elif in_flight == 0:
                if run.cursor is None and run.pass_sent == 0:  # a whole walk found nothing left
                    run.state, run.finished_at = RunState.COMPLETED, now
                    out.completed.append(str(run.id))
                    out.deliveries += _completed_event(session, run)
                else:  # end of this walk: once more from the start, to catch what was lost
                    run.cursor, run.pass_sent = None, 0
    return out


def _completed_event(session: Session, run: RescanRun) -> list[uuid.UUID]:
    if run.tenant_id is None:
        return []  # an operations run over every tenant: no one tenant's event
    view = run_view(run)
    return record_event(session, run.tenant_id, "rescan.completed", {"rescan": view}).deliveries


# --- the re-scan batch (worker) ---------------------------------------------------------------

@dataclass
class RescanReport:
    done: int = 0
    failed: int = 0
    skipped: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)


def process_rescan_batch(factory: sessionmaker[Session], store: PhotoStore, detector_for: Callable[[str], Detector],
                         items: list[tuple[str, str, str]], batch_id: str) -> RescanReport:
    """Analyse stored photos again; ``items`` are (job, version, run); ``detector_for(version)``."""
    report = RescanReport()
    t0 = time.perf_counter()
    parsed = [(uuid.UUID(j), v, uuid.UUID(r)) for j, v, r in items]
    with factory() as session:
        states = dict(session.execute(select(RescanRun.id, RescanRun.state)
                                      .where(RescanRun.id.in_({r for _, _, r in parsed}))).all())
        jobs = {row.id: row for row in session.execute(
            select(Job.id, Job.tenant_id, Job.photo_key).where(Job.id.in_({j for j, _, _ in parsed}))).all()}
        have = set(session.execute(select(Result.job_id, Result.model_version).where(
            or_(*[and_(Result.job_id == j, Result.model_version == v) for j, v, _ in parsed]))).tuples())
    todo = [(j, v, r) for j, v, r in parsed
            if states.get(r) != RunState.CANCELLED and j in jobs and (j, v) not in have]
    handled = {r: 0 for _, _, r in parsed}
    for _, _, r in parsed:
        handled[r] += 1
    photos = store.get_many([jobs[j].photo_key for j, _, _ in todo])
    outcomes: list[list | Exception] = []
    analyses: list[dict | None] = []  # before the transaction: no lock held while the CPU works
    for (_, version, _), photo in zip(todo, photos, strict=True):
        analyses.append(None)
        if isinstance(photo, Exception):
            outcomes.append(photo)
            continue
        try:
            detector = detector_for(version)
            outcomes.append(detector.detect_many([photo])[0])
        except DomainError as exc:  # a model that is unknown or fails its SHA-256 fails its items, not the worker
            outcomes.append(exc)
            continue
        if isinstance(outcomes[-1], list):  # the model's decode, reused
            analyses[-1] = analyse_photo(detector.last_decoded[0] or photo, outcomes[-1])
    t1 = time.perf_counter()
    timings = {"detect_per_photo": (t1 - t0) * 1e3 / max(1, len(todo))}
    done = {r: 0 for r in handled}
    failed = {r: 0 for r in handled}
    with factory() as session, session.begin():
        for (job_id, version, run_id), outcome, analysis in zip(todo, outcomes, analyses, strict=True):
            if not isinstance(outcome, Exception):  # a list of detections: the photo was fetched
                if insert_result(session, job_id, jobs[job_id].tenant_id, version, outcome, batch_id,
                                 len(todo), timings, analysis):
                    done[run_id] += 1
            else:
                code, reason = (outcome.code, outcome.message) if isinstance(outcome, DomainError) \
                    else _failure(outcome)
                added = session.execute(pg_insert(RescanFailure).values(run_id=run_id, job_id=job_id, code=code,
                                                                        reason=reason[:500])
                                        .on_conflict_do_nothing().returning(RescanFailure.job_id)).first()
                if added:
                    failed[run_id] += 1
        now = datetime.now(UTC)
        for run_id in handled:
            session.execute(update(RescanRun).where(RescanRun.id == run_id).values(
                done=RescanRun.done + done[run_id], failed=RescanRun.failed + failed[run_id],
                handled=RescanRun.handled + handled[run_id], progress_at=now))
    report.done, report.failed = sum(done.values()), sum(failed.values())
    report.skipped = len(parsed) - report.done - report.failed
    report.timings_ms = {**timings, "total": (time.perf_counter() - t0) * 1e3}
    return report



def start_nightly(session: Session, models: ModelStore) -> str | None:
    """The scheduled run: every tenant's photos with the serving (accurate) version, unless one is open."""
    open_run = session.execute(select(RescanRun.id).where(RescanRun.state.in_(RunState.OPEN),
                                                          RescanRun.tenant_id.is_(None))
                               .with_for_update()).first()
    if open_run is not None:
        return None
    version, _ = models.serving("accurate")
    return str(create_run(session, Scope(), version, set(models.versions()), created_by="nightly").id)
