"""Logs: one JSON object a line (or plain text in a terminal), with the request's context.

``context(**values)`` adds keys (request_id, tenant, audit, job, batch, task…) to every
record logged inside the block, in the gateway and in the workers alike, so one request id
follows a photo from the gateway's request to the worker's batch. ``LOG_FORMAT`` chooses
``json`` (default: what a log pipeline reads) or ``text`` (``make demo``).

A formatter of our own (twenty lines) rather than a library: the standard library's
logging does the rest.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("shelfwatch_log_context",
                                                                                default=None)


@contextmanager
def context(**values: object) -> Iterator[None]:
    """Add keys to the log context for the duration of the block (nested blocks add up)."""
    token = _context.set({**(_context.get() or {}), **{k: str(v) for k, v in values.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def current() -> dict[str, str]:
    return dict(_context.get() or {})


class ContextFilter(logging.Filter):
    """Puts the context on each record: as fields (JSON) and as ``%(context)s`` (text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _context.get() or {}
        record.ctx = ctx
        record.context = " ".join(f"{k}={v}" for k, v in ctx.items()) if ctx else "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
               **getattr(record, "ctx", {})}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure(fmt: str = "json", level: int = logging.INFO) -> None:
    """Every ``shelfwatch.*`` logger writes through one handler in the chosen format."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(context)s] %(message)s"))
    handler.addFilter(ContextFilter())
    root = logging.getLogger("shelfwatch")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(level)
