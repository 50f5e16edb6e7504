"""``shelfwatch``: the production roles and admin tasks. The container runs this.

    shelfwatch api | worker | beat     run the gateway (gunicorn), a Celery worker or the scheduler
    shelfwatch migrate                 alembic upgrade head
    shelfwatch keys create|list|revoke API keys and their scopes
    shelfwatch models list|publish|serve|canary|promote-canary  the model registry in the bucket
    shelfwatch rescan start|watch|diff…   re-scan stored photos with a model version
    shelfwatch stores create|list|section|sections   stores, sections, stock levels
    shelfwatch labels export --since D DIR   reviewed photos as a YOLO dataset (make train DATA=DIR)
    shelfwatch requeue                 re-enqueue jobs the broker lost (safe to repeat)
    shelfwatch submit PHOTO...         send an audit through the HTTP API and wait for it
    shelfwatch detect PHOTO...         run the detector on local photos, no farm

The local stack, the demo and the benchmarks are dev tools: ``shelfwatch-dev``.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.settings import Settings, get_settings


def cmd_migrate(args: argparse.Namespace, s: Settings) -> int:
    from shared.db import migrate

    migrate(s.database_url)
    print("database schema at head")
    return 0


def cmd_keys(args: argparse.Namespace, s: Settings) -> int:
    from ops import keys

    return keys.run(args, s)


def cmd_api(args: argparse.Namespace, s: Settings) -> int:
    from shared.metrics_dir import use_multiprocess_dir

    use_multiprocess_dir(s.metrics_dir, "api")  # gunicorn's workers inherit it: one scrape counts them all
    os.environ["API_THREADS"] = str(args.threads)  # the gateway's database pool holds one connection per thread
    argv = [sys.executable, "-m", "gunicorn", "api.wsgi:app", "--bind", f"{args.host}:{args.port}",
            "--workers", str(args.workers), "--threads", str(args.threads), "--config", "python:api.gunicorn_conf"]
    os.execv(sys.executable, argv)  # noqa: S606 - replaces this process with gunicorn, fixed arguments


def cmd_worker(args: argparse.Namespace, s: Settings) -> int:
    from shared.metrics_dir import use_multiprocess_dir

    use_multiprocess_dir(s.metrics_dir, f"worker-{args.queues.replace(',', '-')}")  # before prometheus_client loads
    if args.metrics_port is not None:
        s = s.model_copy(update={"worker_metrics_port": args.metrics_port})
    from workers.app import create_worker_app

    app = create_worker_app(s)
    if args.nice:
        os.nice(args.nice)  # the pool's processes inherit it
    app.worker_main(["worker", "--loglevel", args.loglevel, "--pool", args.pool,
                     "--concurrency", str(args.concurrency or s.worker_concurrency),
                     "--queues", args.queues, "--hostname", f"shelfwatch@%h-{os.getpid()}",
                     "--without-gossip", "--without-mingle"])
    return 0


def cmd_beat(args: argparse.Namespace, s: Settings) -> int:
    """The scheduler: due webhook deliveries every WEBHOOK_DISPATCH_INTERVAL_S. Run exactly one."""
    from workers.app import create_worker_app

    app = create_worker_app(s)
    # the in-memory scheduler: nothing to write on a read-only root filesystem, and the
    # schedule is short intervals, so a restart loses nothing worth keeping
    app.start(["beat", "--loglevel", args.loglevel, "--scheduler", "celery.beat:Scheduler"])
    return 0


def cmd_submit(args: argparse.Namespace, s: Settings) -> int:
    from ops import client

    key = args.key or s.shelfwatch_api_key
    if not key:
        raise SystemExit("no API key: pass --key or set SHELFWATCH_API_KEY")
    api = client.Client(args.api, key)
    photos = [Path(p) for p in args.photos]
    sub = api.submit(photos, store_id=args.store, aisle=args.aisle, mode=args.mode, direct=args.direct)
    progress = None if args.json else client.print_progress
    audit = api.wait_audit(sub["audit_id"], timeout=args.timeout, on_progress=progress)
    for job, path in zip(audit["jobs"], photos, strict=True):
        job["path"] = str(path)
    print(client.to_json(audit) if args.json else client.audit_table(audit, api.base))
    return 0 if audit["status"] == "done" else 1


def cmd_detect(args: argparse.Namespace, s: Settings) -> int:
    from ops import detect

    return detect.run(args, s)


def cmd_requeue(args: argparse.Namespace, s: Settings) -> int:
    from shared.celery_app import make_celery
    from shared.db import make_engine, make_sessionmaker
    from shared.reaper import requeue_stale

    older = args.older_than if args.older_than is not None else s.visibility_timeout_s
    sent = requeue_stale(make_sessionmaker(make_engine(s.database_url)), make_celery(s), older)
    print(f"re-enqueued {len(sent)} job(s) waiting longer than {older:g} s")
    for job_id in sent:
        print(f"  {job_id}")
    return 0


def cmd_models(args: argparse.Namespace, s: Settings) -> int:
    from shared import registry
    from shared.model_store import ModelStore

    if args.action == "list":
        print(registry.table(s.models_dir))
        return 0
    store = ModelStore(s)
    if args.action == "publish":
        sent = store.publish(s.models_dir, overwrite_registry=args.registry)
        print(f"uploaded to {store.store.bucket}/models/: {', '.join(sent)}")
        return 0
    if args.action == "tune":  # whatever MODEL_TUNE says: this is the measurement itself
        return _tune(ModelStore(s.model_copy(update={"model_tune": True})), s)
    reg = store.registry()  # the bucket's registry; workers follow a change within the TTL
    if args.action == "canary":
        return _canary(store, reg, args, s)
    if args.action == "promote-canary":
        canary = reg["modes"][args.mode].pop("canary", None)
        if not canary:
            raise SystemExit(f"{args.mode} has no canary to promote")
        was = reg["modes"][args.mode]["model"]
        reg["modes"][args.mode] = {"model": canary["model"],
                                   **({"input_size": canary["input_size"]} if canary.get("input_size") else {})}
        reg.setdefault("history", []).append({"at": datetime.now(UTC).isoformat(timespec="seconds"), "mode": args.mode,
                                              "from": was, "to": canary["model"], "how": "canary promoted"})
        store.write_registry(reg)
        print(f"{args.mode} now serves {Path(canary['model']).stem} for every job (was {Path(was).stem})")
        return 0
    if args.version not in reg.get("versions", {}):
        raise SystemExit(f"{args.version!r} is not in the registry's versions")
    reg["modes"][args.mode] = {"model": reg["versions"][args.version]["file"],
                               **({"input_size": args.input_size} if args.input_size else {})}
    store.write_registry(reg)
    print(f"{args.mode} now serves {args.version}; workers switch within MODEL_REGISTRY_TTL_S "
          f"({s.model_registry_ttl_s:g} s)")
    return 0


def _tune(store: Any, s: Settings) -> int:
    """Measure each mode's model forms on this CPU now (what a worker does at its first batch) and show the choice."""
    from shared import tuning

    for mode in ("accurate", "fast"):
        version, size = store.serving(mode)
        chosen = store.form(version, size)
        print(f"{mode}: registered {version}, runs {chosen} on this CPU ({tuning.cpu_key()}, "
              f"{s.ort_threads} thread(s))")
    for entry in tuning.known(store.cache_dir / "tuning.json").values():
        if entry["cpu"] == tuning.cpu_key() and entry["threads"] == s.ort_threads:
            refused = "".join(f"; refused {name}: boxes agree at F1 {entry['agreement'][name]}"
                              for name in entry.get("rejected", []))
            print(f"  {entry['registered']} at {entry['input_size']} px: model-only ms {entry['ms']} "
                  f"→ {entry['choice']} ({entry['at']}){refused}")
    return 0


def _canary(store: Any, reg: dict, args: argparse.Namespace, s: Settings) -> int:
    """A candidate version takes ``--fraction`` of a mode's new jobs (0 ends the canary)."""
    mode = reg["modes"][args.mode]
    if not args.fraction:
        mode.pop("canary", None)
        store.write_registry(reg)
        print(f"{args.mode}: no canary; {Path(mode['model']).stem} takes every job")
        return 0
    if args.version not in reg.get("versions", {}):
        raise SystemExit(f"{args.version!r} is not in the registry's versions")
    if not 0 < args.fraction < 1:
        raise SystemExit("--fraction: between 0 and 1 (0 ends the canary)")
    mode["canary"] = {"model": reg["versions"][args.version]["file"], "fraction": args.fraction,
                      **({"input_size": args.input_size} if args.input_size else {})}
    store.write_registry(reg)
    print(f"{args.mode}: {args.version} takes {args.fraction:.0%} of new jobs (by job id) within "
          f"MODEL_REGISTRY_TTL_S ({s.model_registry_ttl_s:g} s); compare shelfwatch_photo_products by version, "
          f"then `shelfwatch models promote-canary --mode {args.mode}` or `--fraction 0`")
    return 0


def cmd_stores(args: argparse.Namespace, s: Settings) -> int:
    from ops import stores

    return stores.run(args, s)


def cmd_labels(args: argparse.Namespace, s: Settings) -> int:
    from ops import labels

    return labels.run(args, s)


def cmd_rescan(args: argparse.Namespace, s: Settings) -> int:
    from ops import rescan

    return rescan.run(args, s)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="shelfwatch", description=(__doc__ or "").splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="alembic upgrade head").set_defaults(func=cmd_migrate)

    from ops import keys

    p = sub.add_parser("keys", help="API keys: create, list, revoke")
    keys.add_arguments(p)
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("api", help="run the HTTP gateway")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=8)
    p.set_defaults(func=cmd_api)

    p = sub.add_parser("worker", help="run an inference worker")
    p.add_argument("--concurrency", type=int, default=0, help="processes (default WORKER_CONCURRENCY)")
    p.add_argument("--queues", default="audits", help="audits, rescans or webhooks (comma-separated)")
    p.add_argument("--pool", choices=["prefork", "threads"], default="prefork",
                   help="prefork for the model (processes), threads for webhooks (IO-bound)")
    p.add_argument("--metrics-port", type=int, default=None, help="serve /metrics here (default WORKER_METRICS_PORT)")
    p.add_argument("--nice", type=int, default=0,
                   help="lower this pool's CPU priority (e.g. 10 for re-scans: audits first on shared cores)")
    p.add_argument("--loglevel", default="INFO")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("beat", help="run the scheduler (due webhook deliveries); exactly one per farm")
    p.add_argument("--loglevel", default="INFO")
    p.set_defaults(func=cmd_beat)

    p = sub.add_parser("submit", help="submit photos as one audit and wait for the counts")
    p.add_argument("photos", nargs="+")
    p.add_argument("--api", default="http://127.0.0.1:8000")
    p.add_argument("--key", default="", help="API key (default: SHELFWATCH_API_KEY)")
    p.add_argument("--store", default="store-1", help="store_id of the audit")
    p.add_argument("--aisle", default=None)
    p.add_argument("--mode", choices=["fast", "accurate"], default=None, help="default: the server's (accurate)")
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--json", action="store_true", help="print the audit as JSON, no progress")
    p.add_argument("--direct", action="store_true", help="upload the photos straight to S3 (POST /v1/uploads, "
                   "presigned PUTs, confirm) instead of through the gateway")
    p.set_defaults(func=cmd_submit)

    from ops import detect

    p = sub.add_parser("detect", help="run the detector on local photos, without the farm")
    detect.add_arguments(p)
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("requeue", help="re-enqueue jobs stuck queued/running (lost by the broker); safe to repeat")
    p.add_argument("--older-than", type=float, default=None, metavar="SECONDS",
                   help="only jobs waiting longer than this (default: VISIBILITY_TIMEOUT_S)")
    p.set_defaults(func=cmd_requeue)

    p = sub.add_parser("models", help="list models; publish them to the bucket; serve a version in a mode; "
                                      "canaries; tune: the fastest form on this CPU")
    p.add_argument("action", choices=["list", "publish", "serve", "canary", "promote-canary", "tune"])
    p.add_argument("version", nargs="?", help="with serve or canary: a registry version, e.g. shelfwatch-v11-int8")
    p.add_argument("--fraction", type=float, default=0.1,
                   help="with canary: the share of the mode's new jobs the version takes (0 ends the canary)")
    p.add_argument("--mode", choices=["fast", "accurate"], default="accurate")
    p.add_argument("--input-size", type=int, default=None)
    p.add_argument("--registry", action="store_true", help="with publish: replace the bucket's registry too")
    p.set_defaults(func=cmd_models)

    from ops import stores

    p = sub.add_parser("stores", help="stores, their sections (aisles) and stock levels")
    stores.add_arguments(p)
    p.set_defaults(func=cmd_stores)

    from ops import rescan

    p = sub.add_parser("rescan", help="re-scan stored photos with a model version: start, watch, pause, diff…")
    rescan.add_arguments(p)
    p.set_defaults(func=cmd_rescan)

    from ops import labels

    p = sub.add_parser("labels", help="export people's reviews of photos as a YOLO dataset (make train DATA=DIR)")
    labels.add_arguments(p)
    p.set_defaults(func=cmd_labels)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args, get_settings()))


if __name__ == "__main__":
    sys.exit(main())
