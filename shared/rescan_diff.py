"""What a re-scan changed: per store and class, the served counts against the new version's.

Streams the scope (it may be every photo a tenant ever sent): sums per (store, class), a
heap of the photos whose counts moved most, and totals. The served count of a photo is
its result from the version that served it (``jobs.model_version``).
"""

from __future__ import annotations

import csv
import heapq
import io

from sqlalchemy import and_, select
from sqlalchemy.orm import Session, aliased

from shared.models import Audit, Job, RescanRun, Result
from shared.rescans import _run_scope, _scope_query


def diff(session: Session, run: RescanRun, top: int = 10) -> dict:
    new, old = aliased(Result), aliased(Result)
    jobs = _scope_query(_run_scope(run), run.created_at).subquery()
    query = (select(Audit.store_id, Job.id, old.counts, new.counts)
             .join(jobs, jobs.c.id == Job.id).join(Audit, Audit.id == Job.audit_id)
             .join(new, and_(new.job_id == Job.id, new.model_version == run.model_version))
             .outerjoin(old, and_(old.job_id == Job.id, old.model_version == Job.model_version)))
    per: dict[tuple[str, str], list[int]] = {}
    moved: list[tuple[int, str, str, int, int]] = []
    photos = old_total = new_total = 0
    for store_id, job_id, old_counts, new_counts in session.execute(query.execution_options(yield_per=1000)):
        photos += 1
        before, after = old_counts or {}, new_counts or {}
        for cls in set(before) | set(after):
            sums = per.setdefault((store_id, cls), [0, 0, 0])
            sums[0] += before.get(cls, 0)
            sums[1] += after.get(cls, 0)
            sums[2] += 1
        b, a = sum(before.values()), sum(after.values())
        old_total, new_total = old_total + b, new_total + a
        item = (abs(a - b), str(job_id), store_id, b, a)
        if len(moved) < top:
            heapq.heappush(moved, item)
        else:
            heapq.heappushpop(moved, item)
    rows = [{"store_id": s, "class": c, "old": o, "new": n, "change": n - o,
             "change_pct": round(100 * (n - o) / o, 1) if o else None, "photos": k}
            for (s, c), (o, n, k) in sorted(per.items())]
    return {
        "rescan_id": str(run.id), "model_version": run.model_version, "photos": photos,
        "totals": {"old": old_total, "new": new_total, "change": new_total - old_total,
                   "change_pct": round(100 * (new_total - old_total) / old_total, 1) if old_total else None},
        "by_store_and_class": rows,
        "most_changed": [{"job_id": j, "store_id": s, "old": b, "new": a, "change": a - b}
                         for _, j, s, b, a in sorted(moved, reverse=True)],
    }


def to_csv(d: dict) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=["store_id", "class", "old", "new", "change", "change_pct", "photos"])
    w.writeheader()
    w.writerows(d["by_store_and_class"])
    return out.getvalue()


def table(d: dict) -> str:
    lines = [f"re-scan {d['rescan_id'][:8]} with {d['model_version']}: {d['photos']} photos, "
             f"counts {d['totals']['old']} → {d['totals']['new']} ({d['totals']['change']:+d}, "
             f"{d['totals']['change_pct']}%)",
             f"{'store':<20} {'class':<12} {'old':>8} {'new':>8} {'change':>8} {'%':>7} {'photos':>7}"]
    for r in d["by_store_and_class"]:
        pct = "" if r["change_pct"] is None else f"{r['change_pct']:+.1f}"
        lines.append(f"{r['store_id']:<20} {r['class']:<12} {r['old']:>8} {r['new']:>8} {r['change']:>+8} "
                     f"{pct:>7} {r['photos']:>7}")
    if d["most_changed"]:
        lines.append("photos whose counts changed most:")
        lines += [f"  job {m['job_id']} ({m['store_id']}): {m['old']} → {m['new']} ({m['change']:+d})"
                  for m in d["most_changed"]]
    return "\n".join(lines)
