"""`shelfwatch demo`: the whole farm on real local services and the bundled sample photos.

Brings up (or finds) Postgres, Redis and the S3-API server, migrates, creates a demo
API key, starts the gateway and a worker as child processes, submits `samples/*.jpg`
through the HTTP API, prints per-photo counts and annotated-result URLs, then keeps
serving until Ctrl-C (or exits with `--once`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import requests

from shared.settings import ROOT, Settings
from shelfwatch_cli import client, devstack
from shelfwatch_cli.main import migrate


def _start(args: list[str], env: dict, log_name: str) -> subprocess.Popen:
    log = open(devstack.STATE_DIR / log_name, "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen([sys.executable, "-m", "shelfwatch_cli.main", *args], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_ready(api: str, procs: list[subprocess.Popen], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"a demo process exited early (code {p.returncode}); see .shelfwatch/*.log")
        try:
            if requests.get(f"{api}/readyz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the gateway at {api} was not ready within {timeout:.0f} s")


def run(once: bool, port: int) -> int:
    settings = Settings()
    stack = devstack.up(settings.database_url, settings.redis_url, settings.s3_endpoint_url)
    devstack.write_env(stack)
    settings = Settings()
    from shared.db import make_engine, make_sessionmaker, transaction
    from shared.keys import create_key
    from shared.storage import PhotoStore

    migrate(settings.database_url)
    PhotoStore(settings).ensure_bucket()
    with transaction(make_sessionmaker(make_engine(settings.database_url))) as session:
        key = create_key(session, "demo")
    print(f"stack: postgres {stack.database_url}, redis {stack.redis_url}, s3 {stack.s3_endpoint_url}")
    print(f"API key for tenant 'demo': {key}")

    port = port if devstack.port_is_free(port) else devstack.free_port()
    api = f"http://127.0.0.1:{port}"
    env = {**os.environ, **stack.env()}
    procs = [_start(["api", "--port", str(port)], env, "api.log"), _start(["worker"], env, "worker.log")]
    try:
        _wait_ready(api, procs)
        photos = sorted((ROOT / "samples").glob("*.jpg"))
        print(f"submitting {len(photos)} sample photos to {api} …")
        t0 = time.perf_counter()
        audit = client.submit_and_wait(api, key, "demo-store", photos, timeout=300)
        print(client.table(audit))
        print(f"audit {audit['id']} {audit['status']} in {time.perf_counter() - t0:.1f} s "
              f"(model {audit['jobs'][0].get('model_version')})")
        if once:
            return 0 if audit["status"] == "done" else 1
        print(f"\nserving at {api} (logs in .shelfwatch/); try:\n  curl -H 'Authorization: Bearer {key}' "
              f"{api}/v1/audits/{audit['id']}\nCtrl-C stops the gateway and the worker.")
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
