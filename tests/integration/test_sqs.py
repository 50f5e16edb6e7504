"""The farm with SQS as its broker: the same code, kombu's real SQS transport, a local SQS-API server.

moto's server (the test stack's S3 server) speaks SQS too. Queues are made the way
Terraform makes them (named, then given to the workers as ``predefined_queues`` through
``SQS_QUEUE_URL_PREFIX``); the worker, beat and the webhooks pool run as real processes
with ``BROKER_URL=sqs://…``. Redis stays the default broker everywhere else.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import boto3
import pytest
from sqlalchemy import select

from tests.conftest import MODEL
from tests.farms import Farm
from tests.integration.test_faults import check_end_state, counts, kill_a_busy_child, submit_run, wait_until

pytestmark = pytest.mark.slow
PHOTOS = 60
VISIBILITY_S = 20  # short, so the redelivery of a dead child's messages is seen within the test


@pytest.fixture
def sqs_farm(stack, tmp_path) -> Iterator[tuple[Farm, object]]:
    endpoint = urlsplit(stack.s3_endpoint_url)
    prefix = f"sw{uuid.uuid4().hex[:8]}-"
    sqs = boto3.client("sqs", endpoint_url=stack.s3_endpoint_url, region_name="us-east-1",
                       aws_access_key_id="local", aws_secret_access_key="local")  # noqa: S106 - moto's
    urls = [sqs.create_queue(QueueName=prefix + q, Attributes={"VisibilityTimeout": str(VISIBILITY_S)})["QueueUrl"]
            for q in ("audits", "rescans", "webhooks")]
    url_prefix = urls[0][: -len("audits")]
    broker = f"sqs://local:local@{endpoint.hostname}:{endpoint.port}"
    sqs_env = {"BROKER_URL": broker, "SQS_QUEUE_URL_PREFIX": url_prefix, "SQS_TLS": "false",
               "VISIBILITY_TIMEOUT_S": str(VISIBILITY_S), "TASK_TIME_LIMIT_S": "15"}
    env = {**os.environ, **stack.env(), **sqs_env, "MODEL_PATH": str(MODEL), "ENV": "test", "BATCH_SIZE": "8",
           "BATCH_WAIT_MS": "100", "REAP_INTERVAL_S": "3600"}  # only SQS's own redelivery recovers here
    settings = stack.settings(model_path=str(MODEL), env="test", broker_url=broker, sqs_queue_url_prefix=url_prefix,
                              sqs_tls=False, visibility_timeout_s=VISIBILITY_S, task_time_limit_s=15)
    farm = Farm(env, tmp_path, ["worker", "--concurrency", "2"],
                {"webhooks": ["worker", "--queues", "webhooks", "--pool", "threads", "--concurrency", "2"]})
    yield farm, settings
    farm.close()
    for url in urls:
        sqs.delete_queue(QueueUrl=url)


def test_the_farm_runs_on_sqs_and_a_dead_childs_messages_come_back(sqs_farm, factory, tenant, api_key):
    from shared.models import Job

    farm, settings = sqs_farm
    jobs = submit_run(settings, factory, tenant, PHOTOS)
    wait_until(lambda: counts(factory, jobs).get("done", 0) >= 16, 120, "16 jobs done over SQS")
    _, stalled = kill_a_busy_child(farm, factory, jobs)
    killed_at = time.monotonic()
    wait_until(lambda: counts(factory, jobs).get("done", 0) == len(jobs), 180, "every job done")
    took = time.monotonic() - killed_at
    with factory() as session:
        attempts = session.execute(select(Job.attempts).where(Job.id.in_(stalled))).scalars().all()
    print(f"\nSQS: kill -9 of a child with {len(stalled)} jobs running; all {len(jobs)} done {took:.1f} s later "
          f"(visibility timeout {VISIBILITY_S} s, reaper off)")
    assert min(attempts) >= 2  # redelivered by SQS, taken up again
    check_end_state(factory, jobs)
