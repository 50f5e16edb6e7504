"""What writing one photo's detections costs: INSERT (the path before) against COPY, side by side.

    python -m devtools.bench.write_cost [--detections 150] [--rounds 40]

A dense shelf photo has ~150 detections; the worker writes them in its batch transaction.
This makes a throw-away database on the machine's Postgres (or an embedded one), one
audit and job, then in turn, ``--rounds`` times each: a result row and its detections by
SQLAlchemy's multi-row ``INSERT`` (what the worker did before) and by
``shared.batches.copy_detections`` (``COPY … FROM STDIN``, what it does now), each in
its own committed transaction, timed whole (the result row and the commit included). It
prints the median and the ratio, and the rows written are checked to be identical.
"""

from __future__ import annotations

import argparse
import statistics
import time

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from devtools.bench.worker_path import scratch_jobs
from shared.batches import copy_detections
from shared.db import transaction
from shared.detector import Detection as Found
from shared.models import Detection, Result


def _found(n: int) -> list[Found]:
    """``n`` plausible detections: a shelf of 10 rows, boxes 40 x 90 px, varied confidences."""
    return [Found(0, "product", 0.25 + (i * 37 % 75) / 100,
                  (float(i % 15 * 42), float(i // 15 * 95), float(i % 15 * 42 + 40.5), float(i // 15 * 95 + 90.25)))
            for i in range(n)]


def _insert_rows(session: Session, tenant: str, result_id: int, found: list[Found]) -> None:
    session.execute(insert(Detection), [
        {"tenant_id": tenant, "result_id": result_id, "class_id": d.class_id, "class_name": d.class_name,
         "confidence": d.confidence, "x1": d.box[0], "y1": d.box[1], "x2": d.box[2], "y2": d.box[3]}
        for d in found])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m devtools.bench.write_cost",
                                 description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--detections", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args(argv)
    with scratch_jobs(1) as (factory, (job_id,)):
        found = _found(args.detections)
        ways = {"INSERT": _insert_rows, "COPY": copy_detections}
        times: dict[str, list[float]] = {k: [] for k in ways}
        written: dict[str, list[tuple]] = {}
        for r in range(args.rounds):
            for way, write in ways.items():
                t0 = time.perf_counter()
                with transaction(factory) as session:
                    result_id = session.execute(insert(Result).values(
                        tenant_id="bench", job_id=job_id, model_version=f"{way}-{r}", counts={},
                        detection_count=len(found), timings_ms={}, batch_id="b", batch_size=1,
                    ).returning(Result.id)).scalar_one()
                    write(session, "bench", result_id, found)
                times[way].append((time.perf_counter() - t0) * 1e3)
                if r == 0:
                    with factory() as session:
                        written[way] = [tuple(row) for row in session.execute(
                            select(Detection.class_id, Detection.class_name, Detection.confidence, Detection.x1,
                                   Detection.y1, Detection.x2, Detection.y2)
                            .where(Detection.result_id == result_id).order_by(Detection.id))]
        if written["INSERT"] != written["COPY"]:
            raise SystemExit("COPY wrote other rows than INSERT")
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"{args.detections} detections per result, {args.rounds} rounds each, in turn (same rows written)")
        for way, ms in med.items():
            print(f"  {way:6}: median {ms:.2f} ms per result (min {min(times[way]):.2f}, max {max(times[way]):.2f})")
        print(f"COPY / INSERT: {med['INSERT'] / med['COPY']:.2f}x faster per photo's write")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
