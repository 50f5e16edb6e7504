"""Farm load generator: submit photos through the HTTP API and time them end to end.

    python -m loadtest.farm --api http://127.0.0.1:8000 --key KEY --folder samples/ \\
        --mode saturate|rate|idle|gateway [--n 64] [--rate 5] [--concurrency 4] [--json out.json]

Each photo is its own audit (as a camera or a phone would send it). Times:

- ``submit_ms``: the HTTP request, from the first byte sent to the 202.
- ``e2e_ms``: from the start of the submit to the job's ``finished_at`` as the worker
  recorded it (the same machine's clock; the result is committed a few ms later).
- ``observed_ms`` (idle mode only): from the start of the submit until a poll every
  10 ms saw the job done, which is what an interactive client experiences.

Sustained throughput is counted after the first batch finished: the queue is full by
then, so the rate is the farm's, not the ramp-up's. Request loops are bounded in count
and time; the API should be on loopback (this is a load test).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import requests

from ops.client import Client

FINAL = ("done", "failed")


@dataclass
class Submission:
    """One POST /v1/audits with one photo, as the client saw it."""

    name: str
    t_start: float  # wall clock (time.time), comparable with the server's timestamps
    submit_ms: float
    status_code: int
    audit_id: str = ""
    job_id: str = ""
    error: str = ""


@dataclass
class Outcome:
    """A submitted photo after the farm finished it."""

    job_id: str
    status: str
    e2e_ms: float
    observed_ms: float | None = None
    batch_size: int | None = None
    worker_ms: dict = field(default_factory=dict)
    finished_at: float = 0.0
    phases_ms: dict = field(default_factory=dict)


def percentiles(values: list[float]) -> dict:
    """p50/p95/p99/mean of a sample (nearest rank: honest for small samples)."""
    if not values:
        return {"n": 0}
    s = sorted(values)

    def rank(p: float) -> float:
        return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]

    return {"p50": round(rank(50), 1), "p95": round(rank(95), 1), "p99": round(rank(99), 1),
            "mean": round(statistics.fmean(s), 1), "max": round(s[-1], 1), "n": len(s)}


def load_photos(folder: Path, limit: int = 0) -> list[tuple[str, bytes]]:
    """JPEG/PNG/WebP files of a folder, read once into memory (sorted, optionally capped)."""
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    if limit:
        paths = paths[:limit]
    if not paths:
        raise FileNotFoundError(f"no photos in {folder}")
    return [(p.name, p.read_bytes()) for p in paths]


def _epoch(iso: str | None) -> float:
    return datetime.fromisoformat(iso).timestamp() if iso else math.nan


class FarmClient:
    """Times photos sent through the project's one API client, ``ops.client.Client``.

    That client keeps one ``requests.Session`` per thread, so the sender threads of a load
    shape share one ``FarmClient``. ``submit`` never raises: a refused or failed request is
    a ``Submission`` with its status and error, which the summaries count.
    """

    def __init__(self, api: str, key: str, store: str = "loadtest", timeout: float = 60):
        self.client, self.store = Client(api, key, timeout=timeout), store

    def submit(self, name: str, photo: bytes, direct: bool = False) -> Submission:
        """One photo as one audit: multipart, or (``direct``) begin, presigned PUT to S3, confirm."""
        t_wall, t0 = time.time(), time.perf_counter()
        send = self.client.upload_audit if direct else self.client.post_audit
        try:
            r = send([(name, photo)], self.store)
        except requests.RequestException as exc:
            return Submission(name, t_wall, (time.perf_counter() - t0) * 1e3, 0, error=repr(exc))
        ms = (time.perf_counter() - t0) * 1e3
        if r.status_code not in (200, 202):
            return Submission(name, t_wall, ms, r.status_code, error=r.text[:200])
        body = r.json()
        return Submission(name, t_wall, ms, r.status_code, body["audit_id"], body["job_ids"][0])

    def job_of(self, audit_id: str) -> dict:
        """The audit's only job (audit views carry no detections: a light poll)."""
        return self.client.audit(audit_id)["jobs"][0]


def _outcome(sub: Submission, job: dict, observed_ms: float | None = None) -> Outcome:
    t = job["timings"]
    finished, started = _epoch(t.get("finished_at")), _epoch(t.get("started_at"))
    accepted = sub.t_start + sub.submit_ms / 1e3
    phases = {"submit": sub.submit_ms,  # the HTTP request: upload, checks, S3 put, insert, enqueue
              "queue": (started - accepted) * 1e3,  # broker, batch wait, claim query
              "worker": (finished - started) * 1e3}  # S3 fetch, decode, model, NMS
    if observed_ms is not None:  # the result transaction, then the client's next poll
        phases["to_seen"] = observed_ms - (finished - sub.t_start) * 1e3
    return Outcome(job["id"], job["status"], (finished - sub.t_start) * 1e3, observed_ms,
                   (job.get("batch") or {}).get("size"), t.get("worker_ms") or {}, finished, phases)


# --- load shapes ----------------------------------------------------------------------

Photos = list[tuple[str, bytes]]


def submit_closed_loop(client: FarmClient, photos: Photos, n: int, concurrency: int) -> list[Submission]:
    """``n`` photos as fast as ``concurrency`` clients can send them (saturation)."""
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda i: client.submit(*photos[i % len(photos)]), range(n)))


def submit_open_loop(client: FarmClient, photos: list[tuple[str, bytes]], n: int, rate: float,
                     max_in_flight: int = 32) -> list[Submission]:
    """``n`` photos at a fixed offered rate (photos/s), whatever the farm's answers take."""
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_in_flight) as pool:
        futures = []
        for i in range(n):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(client.submit, *photos[i % len(photos)]))
        return [f.result() for f in futures]


def wait_all(client: FarmClient, subs: list[Submission], timeout: float = 300, poll_s: float = 0.2) -> list[Outcome]:
    """Wait for every accepted submission; polls the oldest unfinished one only.

    The farm finishes jobs roughly in order, and latency comes from the server's
    ``finished_at``, so one poll at a time keeps the gateway (and its core) quiet.
    """
    deadline = time.monotonic() + timeout
    out = []
    for sub in subs:
        if not sub.audit_id:
            continue
        while True:
            job = client.job_of(sub.audit_id)
            if job["status"] in FINAL:
                out.append(_outcome(sub, job))
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {sub.job_id} still {job['status']} after {timeout:.0f} s")
            time.sleep(poll_s)
    return out


def one_at_a_time(client: FarmClient, photos: list[tuple[str, bytes]], n: int, poll_s: float = 0.01,
                  pause_s: float = 0.05, timeout: float = 30) -> list[Outcome]:
    """Interactive latency on an idle farm: submit one photo, poll until done, repeat."""
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        sub = client.submit(*photos[i % len(photos)])
        if not sub.audit_id:
            raise RuntimeError(f"submit failed: HTTP {sub.status_code} {sub.error}")
        while True:
            job = client.job_of(sub.audit_id)
            if job["status"] in FINAL:
                out.append(_outcome(sub, job, (time.perf_counter() - t0) * 1e3))
                break
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(f"job {sub.job_id} still {job['status']} after {timeout:.0f} s")
            time.sleep(poll_s)
        time.sleep(pause_s)
    return out


def gateway_clients(client: FarmClient, photo: tuple[str, bytes], clients: int = 32,
                    per_client: int = 4, direct: bool = False) -> tuple[list[Submission], float]:
    """``clients`` concurrent clients each submitting ``per_client`` photos back to back.

    Returns the submissions and the wall time; all clients start together (a barrier).
    ``direct``: each submit is a direct upload (its time covers all three requests).
    """
    barrier = threading.Barrier(clients)

    def one_client(_: int) -> list[Submission]:
        barrier.wait()
        return [client.submit(*photo, direct=direct) for _ in range(per_client)]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        subs = [s for batch in pool.map(one_client, range(clients)) for s in batch]
    return subs, time.perf_counter() - t0


# --- summaries ------------------------------------------------------------------------

def sustained_rate(outcomes: list[Outcome]) -> float:
    """Photos/s between the end of the first batch and the end of the last one.

    A batch's jobs share one ``finished_at``; counting from the first batch's end leaves
    out the ramp-up (the first partial batch, the warm queue).
    """
    done = sorted(o.finished_at for o in outcomes if o.status == "done" and not math.isnan(o.finished_at))
    if len(done) < 2:
        return math.nan
    first = done[0]
    later = [t for t in done if t > first]
    span = done[-1] - first
    return len(later) / span if span > 0 else math.nan


def summarize(subs: list[Submission], outcomes: list[Outcome]) -> dict:
    ok = [o for o in outcomes if o.status == "done"]
    stages: dict[str, list[float]] = {}
    phases: dict[str, list[float]] = {}
    for o in ok:
        for k, v in o.worker_ms.items():
            stages.setdefault(k, []).append(v)
        for k, v in o.phases_ms.items():
            phases.setdefault(k, []).append(v)
    summary = {
        "submitted": len(subs) or len(outcomes), "accepted": sum(1 for s in subs if s.audit_id) or len(outcomes),
        "done": len(ok), "failed": sum(1 for o in outcomes if o.status == "failed"),
        "submit_ms": percentiles([s.submit_ms for s in subs if s.audit_id]),
        "e2e_ms": percentiles([o.e2e_ms for o in ok]),
        "photos_per_s": round(sustained_rate(outcomes), 2),
        "batch_size_mean": round(statistics.fmean([o.batch_size for o in ok if o.batch_size]), 2) if ok else None,
        "worker_stage_ms_median": {k: round(statistics.median(v), 1) for k, v in sorted(stages.items())},
        "phase_ms_median": {k: round(statistics.median(v), 1) for k, v in phases.items()},
    }
    if any(o.observed_ms is not None for o in ok):
        summary["observed_ms"] = percentiles([o.observed_ms for o in ok if o.observed_ms is not None])
    errors = [s.error for s in subs if s.error]
    if errors:
        summary["errors"] = errors[:5]
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m loadtest.farm", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--api", default="http://127.0.0.1:8000")
    ap.add_argument("--key", required=True, help="API key (shelfwatch keys create TENANT)")
    ap.add_argument("--folder", type=Path, default=Path("samples"))
    ap.add_argument("--mode", choices=["saturate", "rate", "idle", "gateway"], default="saturate")
    ap.add_argument("--n", type=int, default=32, help="photos to send (saturate, rate, idle)")
    ap.add_argument("--rate", type=float, default=5.0, help="offered photos/s (mode rate)")
    ap.add_argument("--concurrency", type=int, default=4, help="clients (saturate) or clients (gateway)")
    ap.add_argument("--per-client", type=int, default=4, help="photos per client (gateway)")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = ap.parse_args(argv)
    if not 1 <= args.n <= 100_000 or args.concurrency > 256:
        ap.error("keep the load bounded: 1 <= --n <= 100000, --concurrency <= 256")

    client = FarmClient(args.api, args.key)
    photos = load_photos(args.folder)
    if args.mode == "gateway":
        subs, wall = gateway_clients(client, photos[0], args.concurrency, args.per_client)
        summary = {"clients": args.concurrency, "requests": len(subs),
                   "requests_per_s": round(len(subs) / wall, 1),
                   "submit_ms": percentiles([s.submit_ms for s in subs if s.audit_id]),
                   "errors": sum(1 for s in subs if not s.audit_id)}
    elif args.mode == "idle":
        outcomes = one_at_a_time(client, photos, args.n)
        summary = summarize([], outcomes)
        del summary["photos_per_s"], summary["submit_ms"]  # one at a time: no rate; submit is in phase_ms
    else:
        if args.mode == "saturate":
            subs = submit_closed_loop(client, photos, args.n, args.concurrency)
        else:
            subs = submit_open_loop(client, photos, args.n, args.rate)
        summary = summarize(subs, wait_all(client, subs, args.timeout))
        summary["mode"] = args.mode
        if args.mode == "rate":
            summary["offered_rate"] = args.rate
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


__all__ = ["FarmClient", "Outcome", "Submission", "gateway_clients", "one_at_a_time", "percentiles",
           "submit_closed_loop", "submit_open_loop", "summarize", "sustained_rate", "wait_all"]

if __name__ == "__main__":
    sys.exit(main())
