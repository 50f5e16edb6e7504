"""Limits on everyone: requests per client address and per API key, photos per tenant per day.

Flask-Limiter counts in Redis (``RATE_LIMIT_STORAGE_URL`` or ``REDIS_URL``), so every
gateway process and pod shares the counts, in moving windows:

- per client address, every request (``RATE_LIMIT_PER_IP``): checked before the key is
  looked up, so guessing keys is throttled too. Health, readiness and metrics are exempt
  (probes and scrapers poll them).
- per API key, after authentication: ``RATE_LIMIT_SUBMIT`` for ``POST /v1/audits``,
  ``RATE_LIMIT_READ`` for reads (polling), ``RATE_LIMIT_ADMIN`` for admin routes: a key's
  polling never eats into its submits.

A refusal is a 429 problem (``rate_limited``) with ``Retry-After``. If Redis does not
answer, requests are let through (logged): a limit must not take the API down with it.
The daily photo quota (``QUOTA_PHOTOS_PER_DAY``, counted in Postgres, the truth) is
``shared.audits.check_quota``'s.
"""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse

from api import problems
from shared.keys import Principal
from shared.settings import Settings

log = logging.getLogger("shelfwatch.api")
EXEMPT = ("/healthz", "/readyz", "/metrics")


def client_address() -> str:
    """The caller's address as the gateway sees it (behind a proxy, configure it to set REMOTE_ADDR)."""
    return request.remote_addr or "unknown"


def refused(detail: str, retry_after_s: float) -> Response:
    return problems.problem(429, "rate_limited", detail, headers={"Retry-After": str(max(1, math.ceil(retry_after_s)))})


class Limits:
    def __init__(self, app: Flask, settings: Settings):
        self.settings = settings

        # constructed before the gateway's own hooks: the address is checked before the key
        self.limiter = Limiter(
            client_address, app=app, storage_uri=settings.rate_limit_storage_url or settings.redis_url,
            strategy="moving-window", application_limits=[settings.rate_limit_per_ip],
            application_limits_exempt_when=lambda: request.path in EXEMPT, headers_enabled=False,
            swallow_errors=True, key_prefix=settings.rate_limit_key_prefix)
        app.register_error_handler(RateLimitExceeded, self._breached)
        self.per_key = {"submit": parse(settings.rate_limit_submit), "read": parse(settings.rate_limit_read),
                        "admin": parse(settings.rate_limit_admin)}

    def _breached(self, exc: RateLimitExceeded) -> Response:
        """The address's limit is used up (Flask-Limiter raised): a 429 problem with Retry-After."""
        current = self.limiter.current_limit
        wait = current.reset_at - time.time() if current else 60
        return refused(f"too many requests from this address ({exc.limit.limit}); slow down", wait)

    def check_key(self, who: Principal, scope: str) -> Response | None:
        """The key's limit for this kind of request; a 429 problem when it is used up."""
        limit = self.per_key.get(scope, self.per_key["read"])
        try:
            if self.limiter.limiter.hit(limit, "key", who.prefix, scope):
                return None
            reset_at, _ = self.limiter.limiter.get_window_stats(limit, "key", who.prefix, scope)
        except Exception:  # the limit store is down: serve, do not fail
            log.warning("rate limit store unavailable; key %s not limited", who.prefix, exc_info=True)
            return None
        return refused(f"this key made too many {scope} requests ({limit}); slow down", reset_at - time.time())
