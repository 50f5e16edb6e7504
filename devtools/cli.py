"""``shelfwatch-dev``: the developer's tools, not part of the production image.

    shelfwatch-dev services up|down   find or start Postgres, Redis and S3 on loopback
    shelfwatch-dev demo [--once]      the whole farm on the bundled sample photos
    shelfwatch-dev bench [--quick]    engine and farm benchmarks against Ultralytics and OpenVINO
    shelfwatch-dev openapi            write docs/openapi.json and docs/api.md's tables
    shelfwatch-dev webhooks listen    a local webhook receiver that verifies and prints events
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_services(args: argparse.Namespace) -> int:
    from devtools import stack

    if args.action == "down":
        print("stopped:", ", ".join(stack.down()) or "nothing (only the machine's own servers in use)")
        return 0
    local = stack.bring_up()
    stack.write_env(local)
    print(f"postgres  {local.database_url}\nredis     {local.redis_url}\ns3        {local.s3_endpoint_url}")
    print(f"started here: {', '.join(local.started) or 'nothing (all found running)'}; "
          f"settings written to {stack.LOCAL_ENV_FILE}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from devtools.demo import run

    return run(once=args.once, port=args.port, samples=args.samples, load=args.load)


def cmd_bench(args: argparse.Namespace) -> int:
    from devtools.bench import main as bench

    return bench.run(args)


def cmd_openapi(args: argparse.Namespace) -> int:
    from devtools.openapi import write

    print("wrote", ", ".join(str(p) for p in write(args.out)))
    return 0


def cmd_listen(args: argparse.Namespace) -> int:
    from devtools.listen import listen

    return listen(args.port, args.secret)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="shelfwatch-dev", description=(__doc__ or "").splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("services", help="find or start Postgres, Redis and S3 on loopback")
    p.add_argument("action", choices=["up", "down"])
    p.set_defaults(func=cmd_services)

    p = sub.add_parser("demo", help="run the whole farm on the bundled sample photos")
    p.add_argument("--once", action="store_true", help="exit after printing the results")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--samples", type=Path, default=Path("samples"), help="folder of photos to submit")
    p.add_argument("--load", type=int, default=0, help="then submit this many more audits, one a second")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("openapi", help="write docs/openapi.json and docs/api.md's tables")
    p.add_argument("--out", type=Path, default=Path("docs/openapi.json"))
    p.set_defaults(func=cmd_openapi)

    p = sub.add_parser("webhooks", help="a local webhook receiver: verifies signatures and prints events")
    p.add_argument("action", choices=["listen"])
    p.add_argument("--port", type=int, default=8099)
    p.add_argument("--secret", required=True, help="the endpoint's signing secret (whsec_…)")
    p.set_defaults(func=cmd_listen)

    from devtools.bench import main as bench

    p = sub.add_parser("bench", help="engine and farm benchmarks: printed, JSON and a plot")
    bench.add_arguments(p)
    p.set_defaults(func=cmd_bench)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
