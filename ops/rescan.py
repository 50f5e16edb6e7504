"""``shelfwatch rescan``: re-scan runs from the command line (operations; every tenant or one).

    shelfwatch rescan start [--tenant T] [--store S] [--since D] [--until D] [--model-version V] [--dry-run] [--watch]
    shelfwatch rescan list | show RUN | watch RUN | pause RUN | resume RUN | cancel RUN
    shelfwatch rescan diff RUN [--csv]

``watch`` draws a live progress bar (done / failed / remaining, rate, ETA) until the run ends.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime

from shared import rescan_diff, rescans
from shared.db import make_engine, make_sessionmaker, transaction
from shared.errors import DomainError
from shared.model_store import ModelStore
from shared.models import RunState
from shared.settings import Settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    start = sub.add_parser("start", help="start a run (or --dry-run: count what it would do)")
    start.add_argument("--tenant", default=None, help="default: every tenant")
    start.add_argument("--store", default=None)
    start.add_argument("--since", type=datetime.fromisoformat, default=None, help="audits created at or after (ISO)")
    start.add_argument("--until", type=datetime.fromisoformat, default=None, help="audits created before (ISO)")
    start.add_argument("--model-version", default=None, help="a registry version (default: the serving accurate one)")
    start.add_argument("--dry-run", action="store_true", help="count only: create and enqueue nothing")
    start.add_argument("--watch", action="store_true", help="then show its progress until it ends")
    sub.add_parser("list", help="runs, newest first")
    for name in ("show", "watch", "pause", "resume", "cancel"):
        sub.add_parser(name, help=f"{name} a run").add_argument("run")
    d = sub.add_parser("diff", help="old against new counts per store and class")
    d.add_argument("run")
    d.add_argument("--csv", action="store_true")


def line(v: dict, width: int = 30) -> str:
    todo = v["total"] - v["skipped"]
    share = (v["done"] + v["failed"]) / todo if todo else 1.0
    bar = "#" * round(width * share) + "-" * (width - round(width * share))
    eta = f"ETA {v['eta_s']:.0f} s" if v["eta_s"] is not None else ""
    return (f"{v['id'][:8]} {v['state']:<9} [{bar}] {100 * share:5.1f}%  done {v['done']}, failed {v['failed']}, "
            f"remaining {v['remaining']} of {todo} ({v['skipped']} skipped)  {v['rate_per_s']:.1f}/s {eta}")


def watch(factory, run_id: str, poll_s: float = 1.0) -> dict:
    while True:
        with factory() as session:
            view = rescans.run_view(rescans.get_run(session, run_id))
        done = view["state"] not in RunState.OPEN
        print("\r" + line(view), end="\n" if done else "", file=sys.stderr, flush=True)
        if done:
            return view
        time.sleep(poll_s)


def run(args: argparse.Namespace, s: Settings) -> int:
    factory = make_sessionmaker(make_engine(s.database_url, pool_size=1))
    try:
        if args.action == "start":
            models = ModelStore(s)
            version = args.model_version or models.serving("accurate")[0]
            scope = rescans.Scope(args.tenant, args.store, args.since, args.until)
            with transaction(factory) as session:
                if args.dry_run:
                    p = rescans.plan(session, scope, version)
                    print(f"dry run with {version}: {p['total']} photos in scope, {p['skipped']} already analysed "
                          f"by it, {p['to_scan']} to re-scan; nothing created or enqueued")
                    return 0
                created = rescans.create_run(session, scope, version, set(models.versions()), created_by="cli")
                run_id = str(created.id)
            print(f"re-scan {run_id} started with {version}; beat feeds it (rescans queue)")
            if args.watch:
                watch(factory, run_id)
        elif args.action == "list":
            with factory() as session:
                for r in rescans.list_runs(session, None):
                    print(line(rescans.run_view(r)))
        elif args.action == "show":
            with factory() as session:
                print(line(rescans.run_view(rescans.get_run(session, args.run))))
        elif args.action == "watch":
            watch(factory, args.run)
        elif args.action == "diff":
            with factory() as session:
                d = rescan_diff.diff(session, rescans.get_run(session, args.run))
            print(rescan_diff.to_csv(d) if args.csv else rescan_diff.table(d))
        else:
            with transaction(factory) as session:
                view = rescans.run_view(rescans.steer(session, rescans.get_run(session, args.run, lock=True),
                                                      args.action))
            print(line(view))
    except DomainError as exc:
        raise SystemExit(f"{exc.code}: {exc.message}") from exc
    return 0
