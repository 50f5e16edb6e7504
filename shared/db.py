"""Engine and session factory. Nothing connects until a session is used."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker


def make_engine(database_url: str, pool_size: int = 5) -> Engine:
    if not database_url:
        raise RuntimeError(
            "DATABASE_URL is not set: run `shelfwatch-dev services up` (or `make demo`) to find or "
            "start a local Postgres, or export DATABASE_URL"
        )
    return create_engine(database_url, pool_size=pool_size, pool_pre_ping=True, future=True)


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
