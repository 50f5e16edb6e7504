"""API keys: ``sw_<prefix>_<secret>``, stored as a SHA-256 hash, looked up by prefix.

The secret is 32 random bytes, so a plain SHA-256 (no slow KDF) is enough: nobody can
brute-force it, and a lookup costs one indexed query and one constant-time compare.

A key carries scopes: ``submit`` (send audits), ``read`` (see audits, jobs, results)
and ``admin`` (manage keys, and later webhooks, re-scans and thresholds). A new key gets
``submit`` and ``read`` unless told otherwise; ``admin`` is always asked for by name.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.errors import Invalid, NotFound
from shared.models import ApiKey, Tenant

SCOPES = ("submit", "read", "admin")
ALL_SCOPES = SCOPES
DEFAULT_SCOPES = ("submit", "read")
# last_used_at is written at most this often per key: one UPDATE a minute, not one a request
LAST_USED_RESOLUTION = timedelta(seconds=60)
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant, the key's prefix and what the key may do."""

    tenant_id: str
    prefix: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class CreatedKey:
    key: str  # shown once, never stored
    row: ApiKey


def check_scopes(scopes: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise Invalid.one("scopes", "invalid_scopes", f"scopes: one or more of {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in scopes)


def create_key(session: Session, tenant_id: str, scopes: tuple[str, ...] | list[str] = DEFAULT_SCOPES,
               expires_in_days: float | None = None, name: str | None = None) -> CreatedKey:
    """Create the tenant if needed and a new key for it; the key is shown only once."""
    if not tenant_id or not _TENANT.fullmatch(tenant_id):
        raise Invalid.one("tenant", "invalid_tenant", "tenant: 1-64 letters, digits, '-' or '_'")
    if expires_in_days is not None and expires_in_days <= 0:
        raise Invalid.one("expires_in_days", "invalid_expiry", "expires_in_days: a positive number")
    if name is not None and (len(name) > 64 or not name.isprintable()):
        raise Invalid.one("name", "invalid_name", "name: at most 64 printable characters")
    scopes = check_scopes(scopes)
    if session.get(Tenant, tenant_id) is None:
        session.add(Tenant(id=tenant_id))
        session.flush()
    prefix = secrets.token_hex(6)
    key = f"sw_{prefix}_{secrets.token_urlsafe(32)}"
    now = datetime.now(UTC)
    expires = now + timedelta(days=expires_in_days) if expires_in_days else None
    row = ApiKey(tenant_id=tenant_id, prefix=prefix, key_hash=_hash(key), scopes=list(scopes),
                 created_at=now, expires_at=expires, name=name)
    session.add(row)
    session.flush()
    return CreatedKey(key, row)


class KeyCache:
    """Keys that authenticated in the last ``ttl_s`` seconds, so a busy client's requests need no lookup.

    Held per process by the gateway. A revocation through this process's API takes effect
    at once (``forget``); one made elsewhere (``shelfwatch keys revoke``, another gateway
    process) within ``ttl_s``. A key's expiry is checked on every hit. Keyed by the key's
    SHA-256, never the key.
    """

    def __init__(self, ttl_s: float):
        self.ttl_s = ttl_s
        self._found: dict[str, tuple[Principal, datetime | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, now: datetime | None = None) -> Principal | None:
        if self.ttl_s <= 0:
            return None
        with self._lock:
            hit = self._found.get(_hash(key))
        if hit is None:
            return None
        who, expires_at, at = hit
        if time.monotonic() - at > self.ttl_s or (expires_at is not None and expires_at <= (now or datetime.now(UTC))):
            return None
        return who

    def put(self, key: str, who: Principal, expires_at: datetime | None) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            if len(self._found) > 10_000:  # keys seen once long ago: start afresh rather than grow
                self._found.clear()
            self._found[_hash(key)] = (who, expires_at, time.monotonic())

    def forget(self, prefix: str) -> None:
        with self._lock:
            for digest in [d for d, (who, _, _) in self._found.items() if who.prefix == prefix]:
                del self._found[digest]


def authenticate(session: Session, key: str, now: datetime | None = None,
                 cache: KeyCache | None = None) -> Principal | None:
    """The principal a presented key stands for; None for unknown, revoked or expired keys.

    Records the key's last use, at most once per ``LAST_USED_RESOLUTION``; the caller commits.
    """
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "sw":
        return None
    row = session.execute(select(ApiKey).where(ApiKey.prefix == parts[1])).scalar_one_or_none()
    # compare even when the prefix is unknown, so both answers take the same time
    stored = row.key_hash if row is not None else _hash("sw_0_0")
    if not hmac.compare_digest(stored, _hash(key)) or row is None:
        return None
    now = now or datetime.now(UTC)
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
    who = Principal(row.tenant_id, row.prefix, frozenset(row.scopes))
    if cache is not None:
        cache.put(key, who, row.expires_at)
    return who


def list_keys(session: Session, tenant_id: str | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    if tenant_id is not None:
        query = query.where(ApiKey.tenant_id == tenant_id)
    return list(session.execute(query).scalars())


def revoke_key(session: Session, prefix: str, tenant_id: str | None = None, now: datetime | None = None) -> ApiKey:
    """Revoke a key by its prefix (within ``tenant_id`` when given); revoking twice is a no-op."""
    query = select(ApiKey).where(ApiKey.prefix == prefix)
    if tenant_id is not None:
        query = query.where(ApiKey.tenant_id == tenant_id)
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        raise NotFound("key_not_found", f"no API key with prefix {prefix}")
    if row.revoked_at is None:
        row.revoked_at = now or datetime.now(UTC)
    return row


def key_view(row: ApiKey) -> dict:
    """The public shape of a key: never its hash, never the key."""
    return {
        "prefix": row.prefix,
        "tenant": row.tenant_id,
        "name": row.name,
        "scopes": list(row.scopes),
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }
