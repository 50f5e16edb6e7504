"""Fixtures on real services: Postgres, Redis and an S3-API server on loopback.

The test session brings up a private stack with the one ``devtools.stack.bring_up``: its
own database (created on the machine's Postgres, or on one started here with the
embedded binaries), its own ``redis-server`` and its own moto S3 server, on free ports,
so tests never touch a developer's demo data. The schema is built by ``alembic upgrade
head``, never ``create_all``. Set ``TEST_DATABASE_SERVER`` (a server URL whose user may
create databases) to use another Postgres.

Each test that needs a key gets a tenant of its own (``api_key``, ``other_key``), so
tests never see each other's audits. Every response a test receives through ``client``
is validated against the OpenAPI spec (``tests/contract.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.stack import UNLIMITED
from tests.paths import MODELS, SAMPLES

MODEL = MODELS / "shelfwatch-v1-int8.onnx"
__all__ = ["MODEL", "SAMPLES"]


def pytest_collection_modifyitems(items):
    for item in items:
        path = str(item.fspath)
        if "integration" in path or "browser" in path:  # both need the real services
            item.add_marker(pytest.mark.integration)
        if "browser" in path:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    from devtools.stack import bring_up

    # the bucket's registry serves the tests' pinned v1 in both modes (v11 is there as a candidate)
    models = json.loads((MODELS / "registry.json").read_text())
    registry = {"modes": {mode: {"model": MODEL.name} for mode in ("fast", "accurate")},
                "versions": models["versions"]}
    local = bring_up(tmp_path_factory.mktemp("stack"), private=True, bucket="shelfwatch-test",
                     database_server=os.environ.get("TEST_DATABASE_SERVER", ""), registry=registry)
    yield local
    local.close()


# Webhooks in the tests: receivers on loopback, and a retry schedule compressed from a day
# to seconds (the same settings reach the worker and beat processes as environment); no
# rate limits or quotas but in tests/integration/test_limits.py, which sets its own.
WEBHOOK_ENV = {"MODEL_TUNE": "false",  # the tests name the versions they expect; tests/integration/test_tuning.py
               "MODEL_REGISTRY_TTL_S": "1", "RESCAN_FEED_INTERVAL_S": "0.3", "RESCAN_STALL_S": "3",
               "WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8", "WEBHOOK_CONNECT_TIMEOUT_S": "0.5",
               "WEBHOOK_READ_TIMEOUT_S": "2", "WEBHOOK_BACKOFF_BASE_S": "0.2", "WEBHOOK_BACKOFF_CAP_S": "0.5",
               "WEBHOOK_RETRY_FOR_S": "4", "WEBHOOK_DISPATCH_INTERVAL_S": "0.3", "WEBHOOK_SECRET_OVERLAP_S": "60",
               **UNLIMITED}


@pytest.fixture(scope="session")
def settings(stack):
    return stack.settings(model_path=str(MODEL), env="test", **{k.lower(): v for k, v in WEBHOOK_ENV.items()})


@pytest.fixture(scope="session")
def factory(settings):
    from shared.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(settings.database_url))


@pytest.fixture(scope="session")
def spec():
    import json

    from tests.paths import ROOT

    return json.loads((ROOT / "docs" / "openapi.json").read_text())


def make_app(settings, spec):
    """A gateway whose test client validates every response against the committed spec."""
    import json

    from openapi_core import Config, OpenAPI

    from api.app import create_app
    from tests.contract import ContractClient

    app = create_app(settings)
    app.config["TESTING"] = True
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    core = OpenAPI.from_dict(spec, config=config)
    client_class = type("Client", (ContractClient,), {"spec": spec, "core": core})
    app.test_client_class = client_class
    return app


@pytest.fixture(scope="session")
def app(settings, spec):
    return make_app(settings, spec)


@pytest.fixture
def client(app):
    return app.test_client()


def new_key(factory, tenant: str, scopes: tuple[str, ...] = ("submit", "read", "admin")) -> str:
    from shared.db import transaction
    from shared.keys import create_key

    with transaction(factory) as session:
        return create_key(session, tenant, scopes).key


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def api_key(factory, tenant) -> str:
    """A key with every scope, for a tenant of this test's own."""
    return new_key(factory, tenant)


@pytest.fixture
def other_key(factory) -> str:
    return new_key(factory, f"other-{uuid.uuid4().hex[:12]}")


@dataclass
class Worker:
    proc: subprocess.Popen
    log: Path
    metrics_url: str


@pytest.fixture(scope="session")
def worker(stack, settings, tmp_path_factory) -> Iterator[Worker]:
    """A real Celery worker pool (prefork, two children) on the test broker, ready to consume.

    It reads its models from the bucket's registry (v1 serves both modes), as production
    does, logs JSON lines to ``log`` and serves its pool's metrics at ``metrics_url``.
    """
    from devtools import procs
    from devtools.stack import free_port

    home = tmp_path_factory.mktemp("worker")
    port = free_port()
    env = {**os.environ, **stack.env(), **WEBHOOK_ENV, "ENV": "test", "BATCH_WAIT_MS": "500", "BATCH_SIZE": "8",
           "METRICS_DIR": str(home / "metrics"), "WORKER_METRICS_PORT": str(port), "LOG_FORMAT": "json"}
    env.pop("MODEL_PATH", None)
    log = home / "worker.log"
    proc = procs.spawn(["worker", "--concurrency", "2"], env, log)
    procs.wait_for_log(log, " ready.", proc, timeout=120)
    yield Worker(proc, log, f"http://127.0.0.1:{port}/metrics")
    procs.stop(proc)


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def wait_for(client, path: str, key: str, timeout: float = 60.0) -> dict:
    """Poll a job or audit until it leaves queued/running."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(path, headers=auth(key))
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        if body["status"] not in ("queued", "running"):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} still {body['status']} after {timeout} s")
        time.sleep(0.1)


def post_audit(client, key, photos: list[bytes], store="store-1", idem=None, **form):
    import io

    data = {"store_id": store, **form,
            "photos": [(io.BytesIO(p), f"p{i}.jpg") for i, p in enumerate(photos)]}
    headers = auth(key) | ({"Idempotency-Key": idem} if idem else {})
    return client.post("/v1/audits", data=data, headers=headers, content_type="multipart/form-data")


def problem(r, status: int, code: str) -> dict:
    """Assert an RFC 9457 problem with this status and stable code; returns its body."""
    assert r.status_code == status, (r.status_code, r.data[:300])
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["status"] == status, body
    assert body["code"] == code, body
    assert body["type"].endswith(code)
    assert body["title"]
    assert body["detail"]
    return body


@pytest.fixture(scope="session")
def gateway(stack, tmp_path_factory) -> Iterator[str]:
    """A real gateway process (gunicorn) on a free port; yields its base URL."""
    from devtools import procs
    from devtools.stack import free_port

    port = free_port()
    home = tmp_path_factory.mktemp("api")
    env = {**os.environ, **stack.env(), **UNLIMITED, "ENV": "test", "METRICS_DIR": str(home / "metrics")}
    proc = procs.spawn(["api", "--port", str(port), "--workers", "2"], env, home / "api.log")
    url = f"http://127.0.0.1:{port}"
    procs.wait_ready(url, [proc])
    yield url
    procs.stop_gateway(proc)


@pytest.fixture
def cli_env(stack, monkeypatch):
    """The ops command's settings point at the test stack (the command reads the environment)."""
    from shared.settings import get_settings

    for name, value in {**stack.env(), "MODEL_PATH": str(MODEL)}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
