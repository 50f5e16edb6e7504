"""``shelfwatch``: one command for every role. The Makefile and the container call it.

    shelfwatch services up|down     find or start Postgres, Redis and S3 on loopback
    shelfwatch migrate              alembic upgrade head
    shelfwatch keys create TENANT   print a new API key for TENANT
    shelfwatch api | worker         run the gateway (gunicorn) or a Celery worker
    shelfwatch submit PHOTO...      send an audit through the HTTP API and wait for it
    shelfwatch detect PHOTO...      run the detector on local photos, no farm
    shelfwatch models list|promote  the model registry and its promotion gate
    shelfwatch bench [--quick]      engine and farm benchmarks against Ultralytics and OpenVINO
    shelfwatch demo [--once]        all of the above on the bundled sample photos
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _settings():
    from shared.settings import get_settings

    return get_settings()


def cmd_services(args: argparse.Namespace) -> int:
    from shelfwatch_cli import devstack

    if args.action == "down":
        print("stopped:", ", ".join(devstack.down()) or "nothing (only the machine's own servers in use)")
        return 0
    s = _settings()
    stack = devstack.up(s.database_url, s.redis_url, s.s3_endpoint_url)
    devstack.write_env(stack)
    print(f"postgres  {stack.database_url}\nredis     {stack.redis_url}\ns3        {stack.s3_endpoint_url}")
    print(f"started here: {', '.join(stack.started) or 'nothing (all found running)'}; "
          f"settings written to {devstack.LOCAL_ENV_FILE}")
    from shared.settings import Settings
    from shared.storage import PhotoStore

    PhotoStore(Settings()).ensure_bucket()
    return 0


def migrate(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    from shared.settings import ROOT

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = database_url
    command.upgrade(cfg, "head")


def cmd_migrate(args: argparse.Namespace) -> int:
    migrate(_settings().database_url)
    print("database schema at head")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from shared.db import make_engine, make_sessionmaker, transaction
    from shared.keys import create_key

    factory = make_sessionmaker(make_engine(_settings().database_url))
    with transaction(factory) as session:
        key = create_key(session, args.tenant)
    print(key)
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    argv = [sys.executable, "-m", "gunicorn", "api.wsgi:app", "--bind", f"{args.host}:{args.port}",
            "--workers", str(args.workers), "--threads", str(args.threads), "--access-logfile", "-"]
    os.execv(sys.executable, argv)


def cmd_worker(args: argparse.Namespace) -> int:
    from workers.app import create_celery

    s = _settings()
    app = create_celery(s)
    app.worker_main(["worker", "--loglevel", args.loglevel, "--pool", "prefork",
                     "--concurrency", str(args.concurrency or s.worker_concurrency),
                     "--queues", args.queues, "--hostname", f"shelfwatch@%h-{os.getpid()}",
                     "--without-gossip", "--without-mingle"])
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from shelfwatch_cli import client

    results = client.submit_and_wait(args.api, args.key, args.store, [Path(p) for p in args.photos],
                                     timeout=args.timeout)
    print(json.dumps(results, indent=2) if args.json else client.table(results))
    return 0 if all(j["status"] == "done" for j in results["jobs"]) else 1


def cmd_detect(args: argparse.Namespace) -> int:
    from shared import registry
    from shared.detector import Detector, counts_of

    s = _settings()
    spec = registry.resolve(s.models_dir, args.model or s.model_path)[args.mode]
    det = Detector(spec.model, threads=args.threads, input_size=spec.input_size)
    photos = []
    for p in args.photos:
        found = det.detect_many([Path(p).read_bytes()])[0]
        if isinstance(found, Exception):
            print(f"{p}: {found}", file=sys.stderr)
            photos.append({"path": p, "error": str(found)})
            continue
        photos.append({"path": p, "detections": [d.to_dict() for d in found], "counts": counts_of(found)})
    if args.json:
        print(json.dumps({"photos": photos, "model_version": det.version}))
    else:
        for ph in photos:
            print(f"{ph['path']}: {ph.get('counts', ph.get('error'))}")
    return 0 if all("error" not in p for p in photos) else 1


def cmd_requeue(args: argparse.Namespace) -> int:
    from shared.db import make_engine, make_sessionmaker
    from shared.queue import make_celery
    from shared.reaper import requeue_stale

    s = _settings()
    older = args.older_than if args.older_than is not None else s.visibility_timeout_s
    sent = requeue_stale(make_sessionmaker(make_engine(s.database_url)), make_celery(s), older)
    print(f"re-enqueued {len(sent)} job(s) waiting longer than {older:g} s")
    for job_id in sent:
        print(f"  {job_id}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from shelfwatch_cli import models

    return models.run(args, _settings().models_dir)


def cmd_bench(args: argparse.Namespace) -> int:
    from shelfwatch_cli import bench

    return bench.run(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from shelfwatch_cli.demo import run

    return run(once=args.once, port=args.port)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="shelfwatch", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("services", help="find or start Postgres, Redis and S3 on loopback")
    p.add_argument("action", choices=["up", "down"])
    p.set_defaults(func=cmd_services)

    sub.add_parser("migrate", help="alembic upgrade head").set_defaults(func=cmd_migrate)

    p = sub.add_parser("keys", help="API keys")
    p.add_argument("action", choices=["create"])
    p.add_argument("tenant")
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("api", help="run the HTTP gateway")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=8)
    p.set_defaults(func=cmd_api)

    p = sub.add_parser("worker", help="run an inference worker")
    p.add_argument("--concurrency", type=int, default=0, help="processes (default WORKER_CONCURRENCY)")
    p.add_argument("--queues", default="audits")
    p.add_argument("--loglevel", default="INFO")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("submit", help="submit photos as one audit and wait for the counts")
    p.add_argument("photos", nargs="+")
    p.add_argument("--api", default="http://127.0.0.1:8000")
    p.add_argument("--key", required=True, help="API key (shelfwatch keys create TENANT)")
    p.add_argument("--store", default="store-1")
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("detect", help="run the detector on local photos")
    p.add_argument("photos", nargs="+")
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--mode", choices=["fast", "accurate"], default="accurate")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_detect)

    from shelfwatch_cli import models

    p = sub.add_parser("requeue", help="re-enqueue jobs stuck queued/running (lost by the broker); safe to repeat")
    p.add_argument("--older-than", type=float, default=None, metavar="SECONDS",
                   help="only jobs waiting longer than this (default: VISIBILITY_TIMEOUT_S)")
    p.set_defaults(func=cmd_requeue)

    p = sub.add_parser("models", help="list the models, or promote one to a mode (with a regression gate)")
    models.add_arguments(p)
    p.set_defaults(func=cmd_models)

    from shelfwatch_cli import bench as bench_cmd

    p = sub.add_parser("bench", help="engine and farm benchmarks: printed, JSON and a plot")
    bench_cmd.add_arguments(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("demo", help="run the whole farm on the bundled sample photos")
    p.add_argument("--once", action="store_true", help="exit after printing the results")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_demo)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
