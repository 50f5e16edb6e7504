"""The worker's per-photo path timed in one process: detect, shelf analytics, write the result.

    python -m devtools.bench.worker_path [--photos DIR] [--limit 12] [--rounds 3] [--out FILE]

What ``shared.batches.process_batch`` spends per photo once a photo is fetched, without
the queue, S3 or Celery around it: ``Detector.detect_many`` (1 ONNX Runtime thread, the
served ``accurate`` model), ``analyse_photo`` and ``insert_result`` (the result row and its
detections, in a committed transaction) into a throw-away database on the machine's
Postgres (or an embedded one). It prints this process's CPU ms and wall ms per photo
(medians over ``--limit`` real photos × ``--rounds``); Postgres' own CPU is not in them.

To compare two checkouts (the change against the commit before it), run the same file
from each in turn with ``farm-bench``, each importing its own ``shared``::

    git worktree add /tmp/before <commit>
    farm-bench -n 5 --timeout 900 \\
      --vs "env PYTHONPATH=/tmp/before .venv/bin/python devtools/bench/worker_path.py --out /tmp/b.txt" \\
      -- env PYTHONPATH=. .venv/bin/python devtools/bench/worker_path.py --out /tmp/a.txt

The file works with either: where the detector keeps its decode (``last_decoded``), the
analytics get those pixels, as the worker does; else the photo's bytes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def scratch_jobs(n: int, tenant: str = "bench") -> Iterator[tuple[sessionmaker[Session], list[uuid.UUID]]]:
    """A throw-away database (migrated, on the machine's Postgres or an embedded one) holding a
    tenant, one audit and ``n`` jobs; yields its session factory and the jobs' ids, then drops it."""
    from devtools import stack as devstack
    from shared.db import make_engine, make_sessionmaker, migrate, transaction
    from shared.keys import create_key
    from shared.models import Audit, Job

    state = Path(tempfile.mkdtemp(prefix="bench-db-"))
    server = devstack.ensure_postgres_server(state, [])
    name = f"shelfwatch_{uuid.uuid4().hex[:10]}"
    url = devstack.create_database(server, name)
    engine = make_engine(url, pool_size=1)
    try:
        migrate(url)
        factory = make_sessionmaker(engine)
        with transaction(factory) as session:
            create_key(session, tenant)
            audit = Audit(tenant_id=tenant, store_id="s", request_hash="0" * 64)
            session.add(audit)
            session.flush()
            jobs = [Job(tenant_id=tenant, audit_id=audit.id, position=i, photo_key="k", photo_sha256="0" * 64,
                        photo_bytes=1) for i in range(n)]
            session.add_all(jobs)
            session.flush()
            ids = [job.id for job in jobs]
        yield factory, ids
    finally:
        engine.dispose()
        devstack.drop_database(server, name)
        devstack.down(state)


def main(argv: list[str] | None = None) -> int:
    import shared.batches as batches
    from devtools.bench.upload_size import photos_dir
    from shared.db import transaction
    from shared.detector import Detector
    from shared.registry import load

    ap = argparse.ArgumentParser(prog="python -m devtools.bench.worker_path",
                                 description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--photos", type=Path, default=None, help="folder of real shelf photos (or its images/)")
    ap.add_argument("--limit", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="also append the figures to this file")
    args = ap.parse_args(argv)
    args.photos = photos_dir(args.photos)
    photos = [p.read_bytes() for p in sorted(args.photos.glob("*.jpg"))[: args.limit]]
    if not photos:
        raise SystemExit(f"no .jpg photos in {args.photos}")
    det = Detector(ROOT / "models" / load(ROOT / "models")["modes"]["accurate"]["model"], threads=1)
    with scratch_jobs(len(photos)) as (factory, jobs):
        cpu, wall = [], []
        for r in range(args.rounds):
            for job_id, photo in zip(jobs, photos, strict=True):
                c0, w0 = time.process_time(), time.perf_counter()
                found = det.detect_many([photo])[0]
                if isinstance(found, Exception):
                    raise found
                pixels = getattr(det, "last_decoded", [None])[0]
                analysis = batches.analyse_photo(pixels if pixels is not None else photo, found)
                with transaction(factory) as session:
                    batches.insert_result(session, job_id, "bench", f"v-{r}", found, "b", 1, {}, analysis)
                cpu.append((time.process_time() - c0) * 1e3)
                wall.append((time.perf_counter() - w0) * 1e3)
    line = (f"{batches.__file__}: {len(photos)} photos x {args.rounds} rounds, per photo median "
            f"CPU {statistics.median(cpu):.1f} ms, wall {statistics.median(wall):.1f} ms")
    print(line)
    if args.out:
        with args.out.open("a") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
