"""Interactive first: an audit's latency while a re-scan saturates the machine, against idle.

    python -m devtools.bench.priority [--n 20] [--rescan-photos 600] [--nice 10 0]

On a private stack (``stack.bring_up``): the gateway, an audits worker (1 process), a
re-scan worker pool (2 processes, every core), the webhooks pool (beat's bookkeeping) and
beat. For each ``--nice`` value of the re-scan pool it times ``--n`` one-photo audits one
at a time (submit → done, polled every 20 ms) with the farm idle, then again while a
re-scan of ``--rescan-photos`` stored photos runs, and prints p50/p95 and the p95 ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from devtools import procs
from devtools.stack import UNLIMITED, Stack, bring_up, free_port
from ops.client import Client

SAMPLES = sorted(Path("samples").glob("*.jpg"))


def _audit_seconds(client: Client, photo: Path) -> float:
    t0 = time.perf_counter()
    sub = client.submit([photo], store_id="priority")
    client.wait_audit(sub["audit_id"], timeout=120, poll_s=0.02)
    return time.perf_counter() - t0


def _seed(stack: Stack, tenant: str, photo_key: str, n: int) -> None:
    """``n`` stored photos of the tenant (one object, many jobs), done by the serving model."""
    from sqlalchemy import insert

    from shared.db import make_engine, make_sessionmaker, transaction
    from shared.models import Audit, Job

    engine = make_engine(stack.database_url, pool_size=1)
    with transaction(make_sessionmaker(engine)) as s:
        audit_id = uuid.uuid4()
        s.execute(insert(Audit).values(id=audit_id, tenant_id=tenant, store_id="bulk", request_hash="x",
                                       status="done"))
        s.execute(insert(Job), [{"id": uuid.uuid4(), "tenant_id": tenant, "audit_id": audit_id, "position": i,
                                 "photo_key": photo_key, "photo_sha256": "0" * 64, "photo_bytes": 1, "width": 1,
                                 "height": 1, "status": "done", "model_version": "seed"} for i in range(n)])
    engine.dispose()


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def measure(nice: int, n: int, rescan_photos: int, workdir: Path) -> dict:
    stack = bring_up(workdir / f"stack-{nice}", private=True, bucket="shelfwatch-priority")
    env = {**os.environ, **stack.env(), **UNLIMITED, "RESCAN_FEED_INTERVAL_S": "0.5",
           "MODEL_CACHE_DIR": str(workdir / "cache")}
    port = free_port()
    logs = workdir / f"logs-{nice}"
    children = [procs.spawn(["api", "--port", str(port)], env, logs / "api.log")]
    try:
        for name, args in (("audits", ["worker", "--queues", "audits", "--concurrency", "1"]),
                           ("rescans", ["worker", "--queues", "rescans", "--concurrency", "2", "--nice", str(nice)]),
                           ("webhooks", ["worker", "--queues", "webhooks", "--pool", "threads", "--concurrency", "2"])):
            children.append(procs.spawn(args, env, logs / f"{name}.log"))
            procs.wait_for_log(logs / f"{name}.log", " ready.", children[-1], timeout=120)
        children.append(procs.spawn(["beat"], env, logs / "beat.log"))
        api = f"http://127.0.0.1:{port}"
        procs.wait_ready(api, children)
        client = Client(api, stack.create_key("priority"))
        for photo in SAMPLES[:3]:  # warm: sessions loaded, connections open
            _audit_seconds(client, photo)
        idle = [_audit_seconds(client, SAMPLES[i % len(SAMPLES)]) for i in range(n)]
        first = client.get("/v1/audits", limit=1)["items"][0]
        key = client.audit(first["id"])["jobs"][0]["id"]
        from shared.db import make_engine, make_sessionmaker
        from shared.models import Job

        engine = make_engine(stack.database_url, pool_size=1)
        with make_sessionmaker(engine)() as s:
            job = s.get(Job, uuid.UUID(key))
            if job is None:
                raise RuntimeError(f"job {key} vanished")
            photo_key = job.photo_key
        engine.dispose()
        _seed(stack, "priority", photo_key, rescan_photos)
        run = client.post("/v1/rescans", {"model_version": "shelfwatch-v1-int8", "store_id": "bulk"})
        deadline = time.monotonic() + 120
        while client.get(f"/v1/rescans/{run['id']}")["done"] < 4:
            if time.monotonic() > deadline:
                raise RuntimeError("the re-scan did not start")
            time.sleep(0.2)
        t0, before = time.monotonic(), client.get(f"/v1/rescans/{run['id']}")["done"]
        busy = [_audit_seconds(client, SAMPLES[i % len(SAMPLES)]) for i in range(n)]
        after = client.get(f"/v1/rescans/{run['id']}")
        saturated = after["remaining"] > 0
        rate = (after["done"] - before) / (time.monotonic() - t0)
        client.post(f"/v1/rescans/{run['id']}/cancel", {})
    finally:
        procs.stop_gateway(children[0])
        for p in children[1:]:
            procs.stop(p, timeout=30)
        stack.close()
    ms = lambda xs: {"p50": round(1e3 * statistics.median(xs)), "p95": round(1e3 * _pct(xs, 95))}  # noqa: E731
    return {"nice": nice, "idle_ms": ms(idle), "busy_ms": ms(busy),
            "p95_ratio": round(_pct(busy, 95) / _pct(idle, 95), 2),
            "rescan_photos_per_s_meanwhile": round(rate, 1), "rescan_still_running": saturated}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m devtools.bench.priority", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--rescan-photos", type=int, default=600)
    ap.add_argument("--nice", type=int, nargs="+", default=[10, 0])
    args = ap.parse_args(argv)
    from devtools.bench.main import machine

    m = machine()
    print(f"CPU: {m['cpu']}, {m['cores']} cores, AVX-512 {m['isa']['avx512f']}, AMX {m['isa']['amx_tile']}")
    with tempfile.TemporaryDirectory(prefix="priority-") as tmp:
        for nice in args.nice:
            r = measure(nice, args.n, args.rescan_photos, Path(tmp))
            print(f"re-scan pool nice {r['nice']:>2}: audit idle p50 {r['idle_ms']['p50']} ms p95 "
                  f"{r['idle_ms']['p95']} ms; during the re-scan p50 {r['busy_ms']['p50']} ms p95 "
                  f"{r['busy_ms']['p95']} ms → p95 ×{r['p95_ratio']} (re-scan {r['rescan_photos_per_s_meanwhile']} "
                  f"photos/s meanwhile, still running: {r['rescan_still_running']})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
