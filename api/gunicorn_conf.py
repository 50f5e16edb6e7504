"""gunicorn's settings for the gateway (``--config python:api.gunicorn_conf``).

A worker that exits is marked dead for prometheus_client's multiprocess mode, so its
``livesum`` gauges (requests in flight) leave the sum; its counters stay counted.

Requests gunicorn refuses itself, before the app sees them (a request line over
``limit_request_line``, headers over ``limit_request_field_size`` or too many of them, a
malformed request), are answered in the API's error shape, RFC 9457 problem+json with a
stable code, instead of gunicorn's HTML page: ``write_error`` below replaces gunicorn's.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util
from prometheus_client import multiprocess

from api.problems import PROBLEM_JSON, TYPE_BASE

accesslog = None  # the gateway logs its own lines (JSON, with the request id)
limit_request_line = 4094  # bytes of "GET /path?query HTTP/1.1" (gunicorn's default)
limit_request_fields = 100
limit_request_field_size = 8190


def child_exit(server: Any, worker: Any) -> None:
    multiprocess.mark_process_dead(worker.pid)


def problem_for(status: int, reason: str, message: str) -> tuple[int, str, str]:
    """(status, title, code) of what gunicorn refused."""
    if status == 400 and message.startswith("Request Line is too large"):
        return 414, "URI too long", "uri_too_long"
    if status == 431:
        return 431, reason, "headers_too_large"
    if status == 400:
        return 400, reason, "bad_request"
    return status, reason, "internal_error" if status >= 500 else "bad_request"


def write_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    status, title, code = problem_for(status_int, reason, mesg)
    body = json.dumps({"type": TYPE_BASE + code, "title": title, "status": status, "code": code, "errors": [],
                       "detail": mesg or title}).encode()
    head = (f"HTTP/1.1 {status} {title}\r\nConnection: close\r\nContent-Type: {PROBLEM_JSON}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin1")
    util.write_nonblock(sock, head + body)


util.write_error = write_error  # gunicorn's workers call util.write_error for what they refuse
