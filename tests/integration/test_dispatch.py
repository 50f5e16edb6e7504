"""The webhook dispatcher's choice of deliveries, against the real database.

In a module of its own: no webhook pool or beat runs here, so no other dispatcher
takes the delivery between the steps.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from shared import delivery
from shared.models import Delivery, DeliveryStatus
from tests.conftest import auth
from tests.integration.test_webhooks import deliveries, register


def test_a_lapsed_lease_is_dispatched_again_at_once_and_only_once(client, api_key, factory):
    # a worker killed mid-attempt leaves its lease behind; the dispatcher must not wait out
    # the lost-message timeout (60 s) when the lease says the attempt is dead
    hook = register(client, api_key, "http://127.0.0.1:9/hook")  # nothing listens: nothing is sent here anyway
    client.post(f"/v1/webhooks/{hook['id']}/test", headers=auth(api_key))  # no webhook pool runs here
    delivery_id = uuid.UUID(deliveries(client, api_key, hook)[0]["id"])
    now = datetime.now(UTC)

    def set_state(enqueued_ago_s: float, lease_left_s: float | None) -> None:
        with factory() as session, session.begin():
            session.execute(update(Delivery).where(Delivery.id == delivery_id).values(
                status=DeliveryStatus.PENDING, next_attempt_at=now - timedelta(seconds=1),
                enqueued_at=now - timedelta(seconds=enqueued_ago_s),
                locked_until=None if lease_left_s is None else now + timedelta(seconds=lease_left_s)))

    set_state(enqueued_ago_s=1, lease_left_s=30)   # an attempt in flight: not due
    assert str(delivery_id) not in delivery.due(factory)
    set_state(enqueued_ago_s=1, lease_left_s=None)  # enqueued a second ago, not yet taken: not due
    assert str(delivery_id) not in delivery.due(factory)
    set_state(enqueued_ago_s=8, lease_left_s=-1)   # the attempt's worker died: due now
    assert str(delivery_id) in delivery.due(factory)
    assert str(delivery_id) not in delivery.due(factory)  # marked: not enqueued again on the next tick
