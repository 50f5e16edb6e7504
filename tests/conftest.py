"""Fixtures on real services: Postgres, Redis and an S3-API server on loopback.

The test session gets its own database (created on the machine's Postgres, or on one
started here with the embedded binaries), its own ``redis-server`` and its own moto S3
server, all on free ports, so tests never touch a developer's demo data. The schema is
built by ``alembic upgrade head``, never ``create_all``. Set ``TEST_DATABASE_SERVER``
(a server URL whose user may create databases) to use another Postgres.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from shared.settings import ROOT, Settings

MODEL = ROOT / "models" / "shelfwatch-v1-int8.onnx"
SAMPLES = sorted((ROOT / "samples").glob("*.jpg"))


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    from devtools import stack as devstack
    from ops.cli import migrate

    state = tmp_path_factory.mktemp("stack")
    started: list[str] = []
    server = os.environ.get("TEST_DATABASE_SERVER") or devstack.ensure_postgres_server(state, started)
    name = f"shelfwatch_test_{uuid.uuid4().hex[:8]}"
    db_url = devstack.create_database(server, name)
    redis_url = devstack.start_redis(state, started)
    s3_url = devstack.start_s3(state, started)
    migrate(db_url)
    env = {"DATABASE_URL": db_url, "REDIS_URL": redis_url, "S3_ENDPOINT_URL": s3_url,
           "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "MODEL_PATH": str(MODEL),
           "S3_BUCKET": "shelfwatch-test", "ENV": "test"}
    yield env
    devstack.drop_database(server, name)
    devstack.down(state)


@pytest.fixture(scope="session")
def settings(stack) -> Settings:
    s = Settings(**{k.lower(): v for k, v in stack.items()}, _env_file=None)
    from shared.storage import PhotoStore

    PhotoStore(s).ensure_bucket()
    return s


@pytest.fixture(scope="session")
def factory(settings):
    from shared.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(settings.database_url))


@pytest.fixture(scope="session")
def app(settings):
    from api.app import create_app

    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture()
def client(app):
    return app.test_client()


def new_key(factory, tenant: str) -> str:
    from shared.db import transaction
    from shared.keys import create_key

    with transaction(factory) as session:
        return create_key(session, tenant)


@pytest.fixture(scope="session")
def api_key(factory) -> str:
    return new_key(factory, "tenant-a")


@pytest.fixture(scope="session")
def other_key(factory) -> str:
    return new_key(factory, "tenant-b")


@pytest.fixture(scope="session")
def worker(stack, tmp_path_factory):
    """A real Celery worker process (prefork, one child) on the test broker."""
    env = {**os.environ, **stack, "BATCH_WAIT_MS": "500", "BATCH_SIZE": "8"}
    log = open(tmp_path_factory.mktemp("worker") / "worker.log", "wb")  # noqa: SIM115 - child's stdout
    proc = subprocess.Popen([sys.executable, "-m", "ops.cli", "worker", "--concurrency", "1"],
                            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    time.sleep(0.5)
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_for(client, path: str, key: str, timeout: float = 60.0) -> dict:
    """Poll a job or audit until it leaves queued/running."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(path, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        if body["status"] not in ("queued", "running"):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} still {body['status']} after {timeout} s")
        time.sleep(0.1)
