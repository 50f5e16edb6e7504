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


def test_malformed_keys_resolve_to_no_tenant_without_a_query():
    from shared.keys import tenant_for_key

    class NoDb:
        def execute(self, *a, **k):
            raise AssertionError("a malformed key must not reach the database")

    for key in ("", "abc", "sw_only", "xx_a_b"):
        assert tenant_for_key(NoDb(), key) is None
