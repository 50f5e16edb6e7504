"""What the gateway's routes share: the services built once per process, and the caller."""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery
from flask import g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.celery_app import make_celery
from shared.db import PING_IDLE_S, make_engine, make_sessionmaker
from shared.keys import KeyCache, Principal
from shared.settings import Settings
from shared.storage import PhotoStore


@dataclass
class Services:
    """What the gateway's routes use; built once per process by ``create_app``."""

    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    store: PhotoStore
    celery: Celery
    keys: KeyCache  # keys that authenticated in the last KEY_CACHE_S seconds

    @classmethod
    def build(cls, settings: Settings) -> Services:
        # the hot path: no ping per request, and a pooled connection per thread (an overflow
        # connection is opened and closed again for every request that needs it)
        engine = make_engine(settings.database_url, pool_size=settings.api_threads, ping_idle_s=PING_IDLE_S)
        return cls(settings, engine, make_sessionmaker(engine), PhotoStore(settings), make_celery(settings),
                   KeyCache(settings.key_cache_s))


def principal() -> Principal:
    """The caller of the current request (set by the authentication hook)."""
    return g.principal


