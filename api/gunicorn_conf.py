"""gunicorn's settings for the gateway (``--config python:api.gunicorn_conf``).

A worker that exits is marked dead for prometheus_client's multiprocess mode, so its
``livesum`` gauges (requests in flight) leave the sum; its counters stay counted.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import multiprocess

accesslog = None  # the gateway logs its own lines (JSON, with the request id)


def child_exit(server: Any, worker: Any) -> None:
    multiprocess.mark_process_dead(worker.pid)
