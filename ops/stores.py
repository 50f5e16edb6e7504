"""``shelfwatch stores``: stores, their sections and stock levels, from the command line.

    shelfwatch stores create TENANT STORE [--name NAME]
    shelfwatch stores list TENANT
    shelfwatch stores section TENANT STORE AISLE [--name N] [--critical N] [--target N]   add, or set levels
              [--row INDEX CRITICAL TARGET ...] [--no-rows]       levels per shelf row (0 = top; '-': none)
    shelfwatch stores sections TENANT STORE
"""

from __future__ import annotations

import argparse

from sqlalchemy import select

from shared import stores
from shared.db import make_engine, make_sessionmaker, transaction
from shared.errors import DomainError
from shared.models import Section
from shared.settings import Settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    c = sub.add_parser("create", help="a store (its id is the store_id audits carry)")
    c.add_argument("tenant")
    c.add_argument("store")
    c.add_argument("--name", default=None)
    ls = sub.add_parser("list", help="a tenant's stores")
    ls.add_argument("tenant")
    s = sub.add_parser("section", help="add a section (an aisle), or change its levels")
    s.add_argument("tenant")
    s.add_argument("store")
    s.add_argument("aisle")
    s.add_argument("--name", default=None)
    s.add_argument("--critical", type=int, default=None, help="facings below which it is critical")
    s.add_argument("--target", type=int, default=None, help="facings below which it is low")
    s.add_argument("--row", nargs=3, action="append", metavar=("INDEX", "CRITICAL", "TARGET"), default=None,
                   help="a shelf row's levels (0 = the top row; '-' for no level); repeat per row; replaces all")
    s.add_argument("--no-rows", action="store_true", help="remove every row's levels")
    ss = sub.add_parser("sections", help="a store's sections with their stock status")
    ss.add_argument("tenant")
    ss.add_argument("store")


def _rows(given: list[list[str]] | None, clear: bool) -> list[dict | None] | None:
    """``--row`` triples as row levels (None: not given); '-' is no level."""
    if clear:
        return []
    if given is None:
        return None
    rows: list[dict | None] = []
    for index, critical, target in given:
        i = int(index)
        if not 0 <= i < 50:
            raise SystemExit(f"--row {index}: a row index from 0 (the top) to 49")
        rows += [None] * (i + 1 - len(rows))
        rows[i] = {"critical": None if critical == "-" else int(critical),
                   "target": None if target == "-" else int(target)}
    return rows


def _level(value: int | None) -> str:
    return "-" if value is None else str(value)


def run(args: argparse.Namespace, s: Settings) -> int:
    factory = make_sessionmaker(make_engine(s.database_url, pool_size=1))
    try:
        with transaction(factory) as session:
            if args.action == "create":
                made = stores.create_store(session, args.tenant, args.store, args.name)
                print(f"store {made.id} created for tenant {args.tenant}")
            elif args.action == "list":
                for store in stores.list_stores(session, args.tenant):
                    print(f"{store.id:<24} {store.name or ''}")
            elif args.action == "section":
                existing = session.execute(select(Section).where(
                    Section.tenant_id == args.tenant, Section.store_id == args.store,
                    Section.aisle == args.aisle)).scalar_one_or_none()
                rows = _rows(args.row, args.no_rows)
                if existing is None:
                    section = stores.add_section(session, args.tenant, args.store, args.aisle, args.name,
                                                 args.critical, args.target, rows)
                else:  # judged again at once; a stock.low it raises goes out through beat's dispatcher
                    if rows is None:
                        stores.change_levels(session, existing, args.critical, args.target)
                    else:
                        stores.change_levels(session, existing, args.critical, args.target, rows)
                    section = existing
                print(f"section {section.id} aisle {section.aisle}: critical {section.critical}, "
                      f"target {section.target}, rows {section.row_levels or '-'}, status {section.status}")
            else:
                print(f"{'aisle':<10} {'critical':>8} {'target':>8}  {'status':<8}  rows (critical/target)")
                for sec in stores.list_sections(session, args.tenant, args.store):
                    rows_text = " ".join(f"{i}:{_level(r.get('critical'))}/{_level(r.get('target'))}"
                                         for i, r in enumerate(sec.row_levels or []) if r) or "-"
                    print(f"{sec.aisle:<10} {sec.critical if sec.critical is not None else '-':>8} "
                          f"{sec.target if sec.target is not None else '-':>8}  {sec.status:<8}  {rows_text}")
    except DomainError as exc:
        raise SystemExit(f"{exc.code}: {exc.message}") from exc
    return 0
