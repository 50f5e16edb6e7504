"""Camera simulator: push the photos of a folder through the HTTP API at a fixed rate.

    python -m loadtest.fixed_rate --fps 2 --folder samples/ --key KEY [--api URL] \\
        [--count 20 | --duration 30] [--store cam-1] [--wait]

A fixed-rate camera does not slow down when the farm does: photo *i* is sent at
``start + i / fps`` from a small pool of senders, so a slow answer delays no later
photo (open loop); each goes through ``loadtest.farm.FarmClient`` (``ops.client.Client``,
timed). With ``--wait`` it also follows every job to the end and prints the end-to-end
latency and counts. It stops by itself after ``--count`` photos or ``--duration``
seconds, whichever comes first.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from loadtest.farm import FarmClient, Submission, load_photos, percentiles, wait_all


def schedule(fps: float, count: int, duration: float) -> int:
    """How many photos the run sends: bounded by both the count and the duration."""
    by_time = int(duration * fps) if duration > 0 else count
    return max(1, min(count, by_time) if count > 0 else by_time)


def run_camera(client: FarmClient, photos: list[tuple[str, bytes]], fps: float, n: int,
               senders: int = 8, log: Callable[[str], None] = print) -> list[Submission]:
    """Send ``n`` photos at ``fps``, cycling through ``photos``; returns what was sent."""
    t0 = time.perf_counter()
    late = 0
    futures: list[Future[Submission]] = []
    reported: set[int] = set()
    with ThreadPoolExecutor(senders) as pool:
        for i in range(n):
            delay = t0 + i / fps - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.5 / fps:
                late += 1  # every sender was busy: the gateway is slower than the camera
            futures.append(pool.submit(client.submit, *photos[i % len(photos)]))
            _report_finished(futures, reported, log)
    subs = [f.result() for f in futures]
    _report_finished(futures, reported, log, final=True)
    if late:
        log(f"warning: {late} photos left later than scheduled (all {senders} senders busy)")
    return subs


def _report_finished(futures: list[Future[Submission]], reported: set[int], log: Callable[[str], None],
                     final: bool = False) -> None:
    """Print each answer once, as soon as it is in (or all of them at the end)."""
    for i, f in enumerate(futures):
        if i in reported or not (f.done() or final):
            continue
        reported.add(i)
        s = f.result()
        status = f"job {s.job_id}" if s.job_id else f"FAILED HTTP {s.status_code} {s.error[:80]}"
        log(f"#{i + 1:<4} {s.name:<28} {s.submit_ms:7.1f} ms  {status}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m loadtest.fixed_rate", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--fps", type=float, required=True, help="photos per second (e.g. 2, or 0.2 for one per 5 s)")
    ap.add_argument("--folder", type=Path, required=True, help="photos to send, cycled in name order")
    ap.add_argument("--key", required=True, help="API key (shelfwatch keys create TENANT)")
    ap.add_argument("--api", default="http://127.0.0.1:8000")
    ap.add_argument("--store", default="camera-1", help="store_id of every audit")
    ap.add_argument("--count", type=int, default=20, help="photos to send (0: only --duration bounds the run)")
    ap.add_argument("--duration", type=float, default=0, help="seconds to run (0: only --count bounds the run)")
    ap.add_argument("--wait", action="store_true", help="follow each job to the end and report latency")
    args = ap.parse_args(argv)
    if args.fps <= 0 or args.fps > 200:
        ap.error("--fps must be in (0, 200]")
    if args.count <= 0 and args.duration <= 0:
        ap.error("give --count or --duration: the run must be bounded")

    client = FarmClient(args.api, args.key, store=args.store)
    photos = load_photos(args.folder)
    n = schedule(args.fps, args.count, args.duration)
    print(f"camera: {n} photos from {args.folder} ({len(photos)} files) at {args.fps:g} fps to {args.api}")
    t0 = time.perf_counter()
    subs = run_camera(client, photos, args.fps, n)
    accepted = [s for s in subs if s.job_id]
    wall = time.perf_counter() - t0
    print(f"sent {len(subs)} in {wall:.1f} s ({len(subs) / wall:.2f}/s), accepted {len(accepted)}; "
          f"submit ms {percentiles([s.submit_ms for s in accepted])}")
    if args.wait and accepted:
        outcomes = wait_all(client, accepted, timeout=max(60.0, 10 * n / args.fps))
        done = [o for o in outcomes if o.status == "done"]
        print(f"done {len(done)}, failed {len(outcomes) - len(done)}; "
              f"end-to-end ms {percentiles([o.e2e_ms for o in done])}")
    return 0 if len(accepted) == len(subs) else 1


if __name__ == "__main__":
    sys.exit(main())
