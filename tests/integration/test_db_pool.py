"""The gateway's pool tests only idle connections (shared/db.py): a dead idle one is replaced unseen."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from shared.db import make_engine


def _kill_backends(url: str, pids: list[int]) -> None:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for pid in pids:
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    admin.dispose()


def test_an_idle_connection_killed_by_the_server_is_replaced_before_use(stack):
    engine = make_engine(stack.database_url, pool_size=1, ping_idle_s=0.0)  # every checkout counts as idle
    with engine.connect() as conn:
        pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    _kill_backends(stack.database_url, [pid])  # a database restart, seen from the pool
    with engine.connect() as conn:  # tested on checkout, found dead, replaced
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    engine.dispose()


def test_a_busy_connection_is_not_tested_so_its_death_fails_one_use(stack):
    engine = make_engine(stack.database_url, pool_size=1, ping_idle_s=3600.0)  # never idle long enough
    with engine.connect() as conn:
        pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    _kill_backends(stack.database_url, [pid])
    with pytest.raises(OperationalError), engine.connect() as conn:  # the gateway answers this one 503
        conn.execute(text("SELECT 1"))
    with engine.connect() as conn:  # the pool dropped the dead connection: the next use is fine
        assert conn.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()
