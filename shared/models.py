"""Database tables. Postgres is the source of truth for job state.

Every table carries ``tenant_id`` so any query can be scoped to one tenant. The schema
is created only by the Alembic migrations in ``migrations/``; these classes describe it
for queries.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class JobStatus:
    AWAITING_UPLOAD = "awaiting_upload"  # a direct upload: the photo is on its way to S3, not queued yet
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    FINAL = (DONE, FAILED)


class AuditStatus:
    AWAITING_UPLOAD = "awaiting_upload"  # begun by POST /v1/uploads, confirmed by .../confirm
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    PARTIAL = "partial"  # finished, some photos failed
    FAILED = "failed"  # finished, every photo failed
    ALL = (AWAITING_UPLOAD, QUEUED, RUNNING, DONE, PARTIAL, FAILED)
    FINAL = (DONE, PARTIAL, FAILED)


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    name: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Audit(Base):
    __tablename__ = "audits"
    __table_args__ = (UniqueConstraint("tenant_id", "idempotency_key"),)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    store_id: Mapped[str] = mapped_column(String(64))
    aisle: Mapped[str | None] = mapped_column(String(64))
    captured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    # queued | running | done | partial | failed: kept by the worker with its jobs (AuditStatus)
    status: Mapped[str] = mapped_column(String(16), default="queued", server_default="queued")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    facings: Mapped[int | None] = mapped_column(Integer)  # summed over its photos, when finished
    missing_facings: Mapped[int | None] = mapped_column(Integer)  # in its gaps, summed over its photos
    stock_status: Mapped[str | None] = mapped_column(String(16))  # against its section's levels
    compliance: Mapped[dict | None] = mapped_column(JSONB)  # against its section's planogram
    row_facings: Mapped[list | None] = mapped_column(JSONB)  # facings per shelf row, from the top


class Job(Base):
    """One photo to analyse; its status moves queued → running → done | failed."""

    __tablename__ = "jobs"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    audit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("audits.id"), index=True)
    position: Mapped[int] = mapped_column(SmallInteger)
    photo_key: Mapped[str] = mapped_column(Text)
    photo_sha256: Mapped[str] = mapped_column(String(64))
    # a direct upload to an S3 server that keeps no checksum: the worker checks the SHA-256
    photo_checksum_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    photo_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)  # None until a direct upload is confirmed
    height: Mapped[int | None] = mapped_column(Integer)
    queue: Mapped[str] = mapped_column(String(32), default="audits")
    mode: Mapped[str] = mapped_column(String(16), default="accurate", server_default="accurate")
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED, index=True)
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    model_version: Mapped[str | None] = mapped_column(String(64))
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    request_id: Mapped[str | None] = mapped_column(String(64))  # the gateway request that made it (logs)
    claimed_by: Mapped[str | None] = mapped_column(String(128))  # host:pid of the worker process running it
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Result(Base):
    """What one model version found on one job's photo; one row per (job, model version)."""

    __tablename__ = "results"
    __table_args__ = (UniqueConstraint("job_id", "model_version"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"), index=True)
    model_version: Mapped[str] = mapped_column(String(64))
    counts: Mapped[dict] = mapped_column(JSONB)
    detection_count: Mapped[int] = mapped_column(Integer)
    timings_ms: Mapped[dict] = mapped_column(JSONB)
    analytics: Mapped[dict | None] = mapped_column(JSONB)  # rows, groups, gaps (shared/analytics.py)
    batch_id: Mapped[str] = mapped_column(String(36))
    batch_size: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Detection(Base):
    __tablename__ = "detections"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), index=True)
    class_id: Mapped[int] = mapped_column(SmallInteger)
    class_name: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)


# --- webhooks ---------------------------------------------------------------------------

class DeliveryStatus:
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # no 2xx within the retry window, the endpoint answered 410, or it was disabled
    ALL = (PENDING, DELIVERED, DEAD)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    description: Mapped[str | None] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(80))
    previous_secret: Mapped[str | None] = mapped_column(String(80))
    previous_secret_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Event(Base):
    """A state change a client may care about, written in the transaction that made it (the outbox)."""

    __tablename__ = "events"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    type: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    body: Mapped[str] = mapped_column(Text)  # the exact JSON every delivery of it sends


class Delivery(Base):
    """One event to one endpoint: pending until a 2xx, else retried for WEBHOOK_RETRY_FOR_S."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("event_id", "endpoint_id"),)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    retrying_since: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # an attempt is under way
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # a task is on the queue
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    response_excerpt: Mapped[str | None] = mapped_column(Text)


# --- re-scans ---------------------------------------------------------------------------

class RunState:
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    ALL = (RUNNING, PAUSED, CANCELLED, COMPLETED)
    OPEN = (RUNNING, PAUSED)


class RescanRun(Base):
    """One re-scan: a scope of stored photos analysed again with one model version."""

    __tablename__ = "rescan_runs"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id"))
    store_id: Mapped[str | None] = mapped_column(String(64))
    since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    model_version: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    total: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    handled: Mapped[int] = mapped_column(Integer, default=0)
    pass_sent: Mapped[int] = mapped_column(Integer, default=0)
    cursor: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    progress_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RescanFailure(Base):
    __tablename__ = "rescan_failures"
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rescan_runs.id", ondelete="CASCADE"), primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)


class ModelHealth(Base):
    """The latest drift statistic per tenant, store and signal, and accuracy per mode."""

    __tablename__ = "model_health"
    __table_args__ = (UniqueConstraint("signal", "tenant_id", "store_id", "mode"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    signal: Mapped[str] = mapped_column(String(32))
    tenant_id: Mapped[str] = mapped_column(String(64), default="")
    store_id: Mapped[str] = mapped_column(String(64), default="")
    mode: Mapped[str] = mapped_column(String(16), default="")
    version: Mapped[str] = mapped_column(String(64), default="")
    value: Mapped[float] = mapped_column(Float)
    samples: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- stores and sections ----------------------------------------------------------------

class StockStatus:
    OK = "ok"
    LOW = "low"  # below the target
    CRITICAL = "critical"  # below the critical level: stock.low goes out once per crossing
    UNKNOWN = "unknown"  # no level set, or no audit yet


class Store(Base):
    __tablename__ = "stores"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Section(Base):
    """An aisle of a store: audits of that store and aisle belong to it; it holds stock levels."""

    __tablename__ = "sections"
    __table_args__ = (UniqueConstraint("tenant_id", "store_id", "aisle"),)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(String(64))
    store_id: Mapped[str] = mapped_column(String(64))
    aisle: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    critical: Mapped[int | None] = mapped_column(Integer)
    target: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=StockStatus.UNKNOWN)
    status_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    planogram: Mapped[dict | None] = mapped_column(JSONB)  # the expected layout (shared/planogram.py)
    row_levels: Mapped[list | None] = mapped_column(JSONB)  # [{critical, target} | None] per row from the top
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Activity(Base):
    """One thing that happened in a store: an audit done, an alert raised or cleared, levels changed."""

    __tablename__ = "activity"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(String(64))
    store_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    detail: Mapped[dict] = mapped_column(JSONB)


class Review(Base):
    """A person's corrections of one job's detections; every save is a new revision."""

    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("job_id", "revision"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"))
    revision: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str | None] = mapped_column(String(64))
    boxes: Mapped[list] = mapped_column(JSONB)
    changes: Mapped[dict] = mapped_column(JSONB)
    reviewed_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WorkerHeartbeat(Base):
    """A worker process that is alive: it writes ``seen_at`` every HEARTBEAT_INTERVAL_S."""

    __tablename__ = "worker_heartbeats"
    worker_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
