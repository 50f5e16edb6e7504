"""``shelfwatch labels export``: people's reviews of job photos as a YOLO dataset.

    shelfwatch labels export --since 2026-11-01 [--until …] [--tenant T] [--val-percent 20] DIR
    make train DATA=DIR        trains on it (DIR/data.yaml)

The newest revision of each job reviewed in the window; photos as stored, labels from
the reviewed boxes; a job's split (train or val) is fixed by its id. DIR/manifest.json
says which jobs, who reviewed them and what they changed.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from shared.db import make_engine, make_sessionmaker
from shared.reviews import export_dataset
from shared.settings import Settings
from shared.storage import PhotoStore


def moment(text: str) -> datetime:
    """A date or an ISO 8601 time; without an offset it is UTC."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: a date (2026-11-01) or time (2026-11-01T08:00+01:00)") from exc
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    e = sub.add_parser("export", help="reviewed photos as a YOLO dataset that `make train DATA=DIR` takes")
    e.add_argument("out", type=Path, metavar="DIR")
    e.add_argument("--since", type=moment, required=True, help="reviews saved at or after (date or ISO time)")
    e.add_argument("--until", type=moment, default=None, help="reviews saved before")
    e.add_argument("--tenant", default=None, help="one tenant's (default: every tenant's)")
    e.add_argument("--val-percent", type=int, default=20, choices=range(0, 101), metavar="0-100",
                   help="share of photos in val (default 20)")


def run(args: argparse.Namespace, s: Settings) -> int:
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"{args.out} is not empty: export into a new folder")
    factory = make_sessionmaker(make_engine(s.database_url))
    with factory() as session:
        manifest = export_dataset(session, PhotoStore(s), args.out, args.since, args.until, args.tenant,
                                  args.val_percent)
    if not manifest["photos"]:
        print(f"no reviews saved since {args.since.isoformat()}: nothing written but {args.out}/data.yaml")
        return 1
    print(f"wrote {manifest['photos']} photos ({manifest['val_photos']} in val), {manifest['boxes']} boxes, "
          f"classes {', '.join(manifest['classes'])} to {args.out}")
    print(f"train on them: make train DATA={args.out}")
    return 0
