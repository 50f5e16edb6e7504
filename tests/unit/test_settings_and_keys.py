"""Settings validation and API-key parsing: pure logic."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import Settings


def test_visibility_timeout_must_exceed_the_batch_limit():
    with pytest.raises(ValidationError, match="VISIBILITY_TIMEOUT_S"):
        Settings(visibility_timeout_s=60, task_time_limit_s=600, _env_file=None)


def test_production_requires_a_database():
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        Settings(env="production", database_url="", _env_file=None)


def test_broker_defaults_to_redis():
    s = Settings(redis_url="redis://x:1/0", _env_file=None)
    assert s.broker == "redis://x:1/0"
    assert Settings(redis_url="redis://x", broker_url="sqs://", _env_file=None).broker == "sqs://"


def test_sqs_broker_uses_the_queues_terraform_made():
    from shared.celery_app import QUEUES, make_celery

    prefix = "https://sqs.eu-west-1.amazonaws.com/123456789012/shelfwatch-prod-"
    app = make_celery(Settings(broker_url="sqs://", sqs_queue_url_prefix=prefix, s3_region="eu-west-1",
                               _env_file=None))
    opts = app.conf.broker_transport_options
    assert opts["predefined_queues"] == {q: {"url": prefix + q} for q in QUEUES}
    assert opts["region"] == "eu-west-1"
    assert opts["visibility_timeout"] == 3600
    assert app.conf.worker_enable_remote_control is False
    with pytest.raises(RuntimeError, match="SQS_QUEUE_URL_PREFIX"):
        make_celery(Settings(broker_url="sqs://", _env_file=None))
    redis = make_celery(Settings(redis_url="redis://x:1/0", _env_file=None))
    assert redis.conf.broker_transport_options == {"visibility_timeout": 3600}
    assert redis.conf.worker_enable_remote_control is True


def test_malformed_keys_resolve_to_no_principal_without_a_query():
    from shared.keys import authenticate

    class NoDb:
        def execute(self, *a, **k):
            raise AssertionError("a malformed key must not reach the database")

    for key in ("", "abc", "sw_only", "xx_a_b"):
        assert authenticate(NoDb(), key) is None  # type: ignore[arg-type]


def test_scopes_are_checked_and_ordered():
    from shared.errors import Invalid
    from shared.keys import check_scopes

    assert check_scopes(["admin", "read"]) == ("read", "admin")
    for bad in ([], ["root"], ["read", "write"]):
        with pytest.raises(Invalid) as info:
            check_scopes(bad)
        assert info.value.code == "invalid_scopes"


def test_backoff_grows_and_is_jittered():
    import random

    from shared.celery_app import backoff_s

    rng = random.Random(7)  # noqa: S311 - jitter needs no cryptography
    samples = {n: [backoff_s(n, base_s=2, cap_s=300, rng=rng) for _ in range(200)] for n in (1, 3, 12)}
    assert all(0 <= x <= 2 for x in samples[1])
    assert max(samples[1]) > 1.5
    assert all(0 <= x <= 8 for x in samples[3])
    assert max(samples[3]) > 6
    assert all(0 <= x <= 300 for x in samples[12])
    assert max(samples[12]) > 250
    assert len(set(samples[3])) > 150  # jittered, not one value for every job


def test_every_setting_is_documented_in_the_readme():
    from tests.paths import ROOT

    readme = (ROOT / "README.md").read_text()
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in readme]
    assert not missing, f"settings missing from the README's configuration table: {missing}"


def test_secrets_can_come_from_files_instead_of_the_environment(tmp_path, monkeypatch):
    from shared.settings import get_settings

    (tmp_path / "DATABASE_URL").write_text("postgresql+psycopg2://app:from-a-file@db:5432/shelfwatch\n")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no .shelfwatch/local.env here
    get_settings.cache_clear()
    try:
        assert get_settings().database_url == "postgresql+psycopg2://app:from-a-file@db:5432/shelfwatch"
        monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://env-wins@db/x")
        get_settings.cache_clear()
        assert get_settings().database_url == "postgresql+psycopg2://env-wins@db/x"
    finally:
        get_settings.cache_clear()


def test_the_key_cache_remembers_forgets_and_honours_expiry(monkeypatch):
    from datetime import UTC, datetime, timedelta

    from shared import keys

    who = keys.Principal("acme", "abc123", frozenset({"read"}))
    cache = keys.KeyCache(ttl_s=5)
    assert cache.get("sw_abc123_secret") is None
    cache.put("sw_abc123_secret", who, expires_at=None)
    assert cache.get("sw_abc123_secret") == who
    assert cache.get("sw_abc123_other") is None  # another secret with the same prefix is not this key
    cache.forget("abc123")
    assert cache.get("sw_abc123_secret") is None
    soon = datetime.now(UTC) + timedelta(seconds=1)
    cache.put("sw_abc123_secret", who, expires_at=soon)
    assert cache.get("sw_abc123_secret") == who
    assert cache.get("sw_abc123_secret", now=soon) is None  # expired while remembered: refused
    now = [1000.0]
    monkeypatch.setattr(keys.time, "monotonic", lambda: now[0])
    cache.put("sw_abc123_secret", who, expires_at=None)
    now[0] += 5.1
    assert cache.get("sw_abc123_secret") is None  # older than its ttl: looked up again
    off = keys.KeyCache(ttl_s=0)
    off.put("sw_abc123_secret", who, expires_at=None)
    assert off.get("sw_abc123_secret") is None


def test_each_queue_batches_by_its_own_settings():
    """Audits keep small batches for latency; re-scans take full ones for throughput."""
    from shared.celery_app import INFER_TASK, RESCAN_TASK
    from shared.settings import Settings
    from workers.app import create_worker_app

    app = create_worker_app(Settings(broker_url="memory://", database_url="postgresql://x@127.0.0.1:9/none",
                                     batch_size=4, batch_wait_ms=25, rescan_batch_size=32, rescan_batch_wait_ms=500))
    audits, rescans = app.tasks[INFER_TASK], app.tasks[RESCAN_TASK]
    assert (audits.flush_every, audits.flush_interval) == (4, 0.025)
    assert (rescans.flush_every, rescans.flush_interval) == (32, 0.5)
    assert app.conf.worker_prefetch_multiplier == 64  # two of the largest batch per process
