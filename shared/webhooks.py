"""Webhook endpoints of a tenant: their URLs, secrets and events; signing and its check.

A delivery is signed like Stripe's: ``ShelfWatch-Signature: t=<unix seconds>,v1=<hex>``
where the hex is HMAC-SHA256 of ``"<t>.<raw body>"`` with the endpoint's secret. During
``WEBHOOK_SECRET_OVERLAP_S`` after a rotation the old secret signs too (a second ``v1=``),
so a receiver can switch at its own pace. ``verify_signature`` is the receiver's side.

URLs are guarded against server-side request forgery: in production only https; never an
address that is private, loopback, link-local, reserved or a cloud metadata service,
checked after DNS resolution (at registration and again before every attempt), unless
``WEBHOOK_ALLOW_NETWORKS`` lets that network in (the local stack and tests: loopback).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.errors import FieldProblem, Invalid, NotFound
from shared.events import ALL_EVENTS, EVENT_TYPES
from shared.models import WebhookEndpoint
from shared.settings import Settings

SIGNATURE_HEADER = "ShelfWatch-Signature"
SUBSCRIBABLE = (*tuple(t for t in EVENT_TYPES if t != "ping"), ALL_EVENTS)
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


# --- signatures -----------------------------------------------------------------------------

def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secrets_: list[str], body: bytes, timestamp: int | None = None) -> str:
    """The signature header's value: ``t=<ts>,v1=<hex>[,v1=<hex>]``, one v1 per secret."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + body
    parts = [f"t={t}"] + [f"v1={hmac.new(s.encode(), signed, hashlib.sha256).hexdigest()}" for s in secrets_]
    return ",".join(parts)


def verify_signature(secret: str, header: str, body: bytes, tolerance_s: float = 300,
                     now: float | None = None) -> bool:
    """True if ``header`` signs ``body`` with ``secret`` and its timestamp is within ``tolerance_s``.

    For receivers: pass the raw request body (bytes, before any JSON parsing).
    """
    try:
        fields = [p.split("=", 1) for p in header.split(",")]
        t = int(next(v for k, v in fields if k.strip() == "t"))
        candidates = [v for k, v in fields if k.strip() == "v1"]
    except (ValueError, StopIteration):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, c) for c in candidates)


def signing_secrets(endpoint: WebhookEndpoint, now: datetime | None = None) -> list[str]:
    now = now or datetime.now(UTC)
    out = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        out.append(endpoint.previous_secret)
    return out


# --- the SSRF guard -------------------------------------------------------------------------

_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


def _allowed_networks(settings: Settings) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n.strip()) for n in settings.webhook_allow_networks.split(",") if n.strip()]


def _public(address: Address) -> bool:
    return not (address.is_private or address.is_loopback or address.is_link_local or address.is_reserved
                or address.is_multicast or address.is_unspecified or address in _METADATA)


def check_url(url: str, settings: Settings) -> list[Address]:
    """Resolve ``url``'s host and refuse it unless every address is public (or allowed)."""
    def refuse(message: str) -> Invalid:
        return Invalid.one("url", "invalid_url", message)

    parts = urlsplit(url)
    schemes = ("https",) if settings.env == "production" else ("https", "http")
    if parts.scheme not in schemes or not parts.hostname:
        raise refuse(f"url: an absolute {' or '.join(schemes)} URL")
    if parts.username or parts.password:
        raise refuse("url: no credentials in the URL (the signature authenticates us)")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise refuse(f"url: {parts.hostname} does not resolve") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    allowed = _allowed_networks(settings)
    for address in addresses:
        mapped = getattr(address, "ipv4_mapped", None) or address
        if not _public(mapped) and not any(mapped in net for net in allowed):
            raise refuse(f"url: {parts.hostname} resolves to {mapped}, which is not a public address")
    return addresses


# --- endpoints --------------------------------------------------------------------------------

def check_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(SUBSCRIBABLE))
    if unknown or not events:
        raise Invalid([FieldProblem("events", "invalid_events",
                                    f"events: one or more of {', '.join(SUBSCRIBABLE)}")])
    return sorted(set(events))


def create_endpoint(session: Session, settings: Settings, tenant_id: str, url: str, events: list[str],
                    description: str | None = None) -> WebhookEndpoint:
    check_url(url, settings)
    now = datetime.now(UTC)
    endpoint = WebhookEndpoint(id=uuid.uuid4(), tenant_id=tenant_id, url=url, events=check_events(events),
                               description=description, enabled=True, secret=new_secret(), created_at=now,
                               updated_at=now)
    session.add(endpoint)
    session.flush()
    return endpoint


def get_endpoint(session: Session, tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
    try:
        endpoint = session.get(WebhookEndpoint, uuid.UUID(endpoint_id))
    except ValueError:
        endpoint = None
    if endpoint is None or endpoint.tenant_id != tenant_id:  # another tenant's endpoint does not exist for you
        raise NotFound("webhook_not_found", f"no webhook {endpoint_id}")
    return endpoint


def list_endpoints(session: Session, tenant_id: str) -> list[WebhookEndpoint]:
    return list(session.execute(select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id)
                                .order_by(WebhookEndpoint.created_at.desc())).scalars())


def update_endpoint(session: Session, settings: Settings, endpoint: WebhookEndpoint, *, url: str | None = None,
                    events: list[str] | None = None, description: str | None = None,
                    enabled: bool | None = None) -> WebhookEndpoint:
    if url is not None:
        check_url(url, settings)
        endpoint.url = url
    if events is not None:
        endpoint.events = check_events(events)
    if description is not None:
        endpoint.description = description
    if enabled is not None:
        endpoint.enabled = enabled
        endpoint.disabled_reason = None if enabled else "disabled by an admin"
    endpoint.updated_at = datetime.now(UTC)
    return endpoint


def rotate_secret(endpoint: WebhookEndpoint, overlap_s: float) -> WebhookEndpoint:
    """A new secret signs from now on; the old one signs too for ``overlap_s``."""
    now = datetime.now(UTC)
    endpoint.previous_secret, endpoint.previous_secret_until = endpoint.secret, now + timedelta(seconds=overlap_s)
    endpoint.secret = new_secret()
    endpoint.updated_at = now
    return endpoint


def disable(endpoint: WebhookEndpoint, reason: str) -> None:
    endpoint.enabled, endpoint.disabled_reason, endpoint.updated_at = False, reason, datetime.now(UTC)


def endpoint_view(endpoint: WebhookEndpoint, with_secret: bool = False) -> dict:
    view = {
        "id": str(endpoint.id), "url": endpoint.url, "events": list(endpoint.events),
        "description": endpoint.description, "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": endpoint.created_at.isoformat(), "updated_at": endpoint.updated_at.isoformat(),
        "previous_secret_until": endpoint.previous_secret_until.isoformat() if endpoint.previous_secret_until else None,
    }
    if with_secret:
        view["secret"] = endpoint.secret
    return view
