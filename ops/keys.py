"""``shelfwatch keys create|list|revoke``: API keys for tenants, from the command line.

The same operations as ``POST/GET/DELETE /v1/keys`` (admin scope), for the operator who
has database access and no key yet: the first admin key of a tenant is made here.
"""

from __future__ import annotations

import argparse

from shared.db import make_engine, make_sessionmaker, transaction
from shared.errors import DomainError
from shared.keys import DEFAULT_SCOPES, SCOPES, create_key, key_view, list_keys, revoke_key
from shared.settings import Settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    c = sub.add_parser("create", help="print a new API key for TENANT (shown only once)")
    c.add_argument("tenant")
    c.add_argument("--scope", action="append", choices=SCOPES, dest="scopes",
                   help=f"repeat for several (default: {' and '.join(DEFAULT_SCOPES)})")
    c.add_argument("--expires", type=float, default=None, metavar="DAYS", help="the key stops working after DAYS")
    c.add_argument("--name", default=None, help="a label to recognise the key by")
    ls = sub.add_parser("list", help="keys of TENANT (or of every tenant): prefix, scopes, dates")
    ls.add_argument("tenant", nargs="?", default=None)
    r = sub.add_parser("revoke", help="revoke the key with this prefix; it fails from the next request on")
    r.add_argument("prefix")


def _date(value: str | None) -> str:
    return value[:19].replace("T", " ") if value else "-"


def run(args: argparse.Namespace, s: Settings) -> int:
    factory = make_sessionmaker(make_engine(s.database_url, pool_size=1))
    try:
        with transaction(factory) as session:
            if args.action == "create":
                created = create_key(session, args.tenant, tuple(args.scopes or DEFAULT_SCOPES),
                                     expires_in_days=args.expires, name=args.name)
                print(created.key)
            elif args.action == "list":
                rows = [key_view(k) for k in list_keys(session, args.tenant)]
                print(f"{'prefix':<13} {'tenant':<16} {'scopes':<18} {'created':<19}  {'expires':<19}  "
                      f"{'last used':<19}  revoked")
                for k in rows:
                    print(f"{k['prefix']:<13} {k['tenant']:<16} {','.join(k['scopes']):<18} "
                          f"{_date(k['created_at']):<19}  {_date(k['expires_at']):<19}  "
                          f"{_date(k['last_used_at']):<19}  {_date(k['revoked_at'])}")
            else:
                row = revoke_key(session, args.prefix)
                print(f"revoked {row.prefix} (tenant {row.tenant_id})")
    except DomainError as exc:
        raise SystemExit(f"{exc.code}: {exc.message}") from exc
    return 0
