"""Real worker pools and beat for the webhook and re-scan tests; the pool under test can be killed."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path


class Farm:
    """Beat, the pool under test (``worker_args``) and any helper pools, as real processes."""

    def __init__(self, env: dict[str, str], logs: Path, worker_args: list[str],
                 helpers: dict[str, list[str]] | None = None):
        from devtools import procs

        self.procs, self.env, self.logs, self.worker_args = procs, env, logs, worker_args
        self.beat = procs.spawn(["beat", "--loglevel", "INFO"], env, logs / "beat.log")
        procs.wait_for_log(logs / "beat.log", "beat: Starting", self.beat, timeout=60)
        self.helpers = [self._start(args, name) for name, args in (helpers or {}).items()]
        self.worker = self.start_worker()

    def _start(self, args: list[str], name: str) -> subprocess.Popen:
        log = self.logs / f"{name}-{uuid.uuid4().hex[:6]}.log"
        proc = self.procs.spawn(args, self.env, log)
        self.procs.wait_for_log(log, " ready.", proc, timeout=120)
        return proc

    def start_worker(self) -> subprocess.Popen:
        return self._start(self.worker_args, "worker")

    def kill_worker(self) -> None:
        """``kill -9`` of the pool under test, children and all."""
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(timeout=10)

    def close(self) -> None:
        self.procs.stop_all([self.worker, *self.helpers, self.beat])
