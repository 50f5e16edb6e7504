"""Engine and session factory. Nothing connects until a session is used."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from importlib import resources

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

PING_IDLE_S = 10.0  # the gateway's pooled connections idle longer than this are tested before use


def make_engine(database_url: str, pool_size: int = 5, ping_idle_s: float | None = None) -> Engine:
    """The engine; every pooled connection tested before use, or with ``ping_idle_s`` only idle ones.

    SQLAlchemy's ``pool_pre_ping`` tests every checkout with a round trip: 24 % of the
    gateway's CPU under load (py-spy), where a connection in use a moment ago needs none.
    With ``ping_idle_s`` (the gateway) a connection idle longer than that (the database may
    have restarted meanwhile) is tested and, if dead, replaced before the request sees it;
    one that died while busy fails its request (503 ``database_unavailable``, Retry-After)
    and the pool drops every connection to the old server. Workers and tools keep the
    always-on test: their checkouts are few and a failed batch costs more than a ping.
    """
    if not database_url:
        raise RuntimeError(
            "DATABASE_URL is not set: run `shelfwatch-dev services up` (or `make demo`) to find or "
            "start a local Postgres, or export DATABASE_URL"
        )
    engine = create_engine(database_url, pool_size=pool_size, pool_pre_ping=ping_idle_s is None, future=True)
    if ping_idle_s is None:
        return engine

    @event.listens_for(engine, "checkin")
    def _idle_from(dbapi_connection: object, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _test_if_idle(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, proxy: object) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since <= ping_idle_s:
            return
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        except Exception as exc:
            raise DisconnectionError("a pooled connection did not answer") from exc  # the pool tries a new one
        finally:
            with suppress(Exception):
                cursor.close()

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def migrate(database_url: str, revision: str = "head") -> None:
    """``alembic upgrade``: the only way the schema is made (tests, demo, the migrate Job).

    The scripts are found as the installed ``migrations`` package, so this works the same
    from a checkout and from the image.
    """
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("migrations")))
    cfg.attributes["database_url"] = database_url
    command.upgrade(cfg, revision)
