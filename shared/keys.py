"""API keys: ``sw_<prefix>_<secret>``, stored as a SHA-256 hash, looked up by prefix.

The secret is 32 random bytes, so a plain SHA-256 (no slow KDF) is enough: nobody can
brute-force it, and a lookup costs one indexed query and one constant-time compare.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import ApiKey, Tenant


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, tenant_id: str) -> str:
    """Create the tenant if needed and a new key for it; the key is shown only once."""
    if not tenant_id or len(tenant_id) > 64 or not tenant_id.replace("-", "").replace("_", "").isalnum():
        raise ValueError("tenant id: 1-64 letters, digits, '-' or '_'")
    if session.get(Tenant, tenant_id) is None:
        session.add(Tenant(id=tenant_id))
        session.flush()
    prefix = secrets.token_hex(6)
    key = f"sw_{prefix}_{secrets.token_urlsafe(32)}"
    session.add(ApiKey(tenant_id=tenant_id, prefix=prefix, key_hash=_hash(key)))
    return key


def tenant_for_key(session: Session, key: str) -> str | None:
    """The tenant a presented key belongs to, or None for unknown or revoked keys."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "sw":
        return None
    row = session.execute(
        select(ApiKey.tenant_id, ApiKey.key_hash).where(ApiKey.prefix == parts[1], ApiKey.revoked_at.is_(None))
    ).first()
    if row is None or not hmac.compare_digest(row.key_hash, _hash(key)):
        return None
    return row.tenant_id
