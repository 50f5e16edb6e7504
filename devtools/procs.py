"""Child processes of the local farm: spawn a role of the ops command, wait until ready, stop.

The demo, the benchmarks and the test fixtures run the gateway and the workers as real
processes (`python -m ops.cli api|worker`), exactly as production does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests


def spawn(args: list[str], env: dict[str, str], log: Path, cores: list[int] | None = None) -> subprocess.Popen:
    """Start ``shelfwatch ARGS`` in its own process group, output appended to ``log``."""
    cmd = [sys.executable, "-m", "ops.cli", *args]
    if cores and shutil.which("taskset"):
        cmd = ["taskset", "-c", ",".join(map(str, cores)), *cmd]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, env=env,  # noqa: S603 - the ops command with our own arguments
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _command(proc: subprocess.Popen) -> str:
    args = proc.args
    return " ".join(str(a) for a in args) if isinstance(args, list) else str(args)


def stop_gateway(proc: subprocess.Popen) -> None:
    stop(proc, sig=signal.SIGINT)


def stop_all(procs: list[subprocess.Popen], timeout: float = 20) -> None:
    """Signal every child at once (each finishes its work meanwhile), then wait for each."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        stop(proc, timeout=max(0.1, deadline - time.monotonic()))


def wait_ready(api: str, procs: list[subprocess.Popen], timeout: float = 60) -> None:
    """Poll ``/readyz`` until 200; fail at once if one of ``procs`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{_command(p)} exited early (code {p.returncode})")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{api}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the gateway at {api} was not ready within {timeout:.0f} s")


def wait_for_log(log: Path, needle: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until ``needle`` appears in a child's log (a Celery worker has no HTTP probe)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{_command(proc)} exited early (code {proc.returncode}); see {log}")
        if log.exists() and needle in log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{needle!r} did not appear in {log} within {timeout:.0f} s")


def stop(proc: subprocess.Popen, timeout: float = 20, sig: int = signal.SIGTERM) -> None:
    """Signal the child's whole process group (gunicorn and Celery have children), then SIGKILL.

    SIGTERM is a warm shutdown for a Celery worker (it finishes its batch). A gateway is
    stopped with SIGINT: gunicorn's quick shutdown, since SIGTERM waits for its graceful
    timeout while a client keeps a connection alive.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
