"""The delivery workflow on the time-skipping server: backoff, giving up, dead letters and redelivery."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.webhooks import WebhookActivities
from api.app import create_app
from config import Settings
from domain.access import Role
from domain.contract import delivery_workflow_id
from domain.events import BusinessEvent, DeliverWebhook, event_id
from gateway import starts
from store import events
from tests.conftest import bearer, make_key, settings_for, unique
from tests.webhooks.receiver import Receiver, serving
from workflows.webhook import WebhookDeliveryWorkflow


@dataclass
class Setup:
    env: WorkflowEnvironment
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    api: httpx.AsyncClient

    async def deliver(self, receiver: Receiver, retry_hours: float = 24) -> tuple[str, str, WorkflowHandle[Any, str]]:
        """Subscribe the receiver, put one event in the outbox and start its delivery as the relay does."""
        created = await self.api.post("/v1/webhooks", json={"url": receiver.url, "event_types": ["order.shipped"]})
        assert created.status_code == 201, created.text
        subscription_id, receiver.secret = created.json()["subscription_id"], created.json()["secret"]
        order_id = unique("web-HOOK")
        event = BusinessEvent(
            event_id(order_id, "shipped:SH-1"), "order.shipped", order_id, datetime.now(UTC), {"order_id": order_id}
        )
        async with self.sessions.begin() as s:
            await events.record(s, [event])
            row = await events.get_event(s, event.event_id)
            assert row is not None
            await events.mark_dispatched(s, [row.seq])  # the test plays the relay
            delivery_id = await events.open_delivery(s, subscription_id, row)
        delivery = DeliverWebhook(delivery_id, subscription_id, event.event_id, retry_hours)
        # The time-skipping client's own handle: waiting on its result lets time jump over the backoff.
        handle = await starts.start_delivery(self.env.client, self.settings.task_queue, delivery)
        assert handle is not None and handle.id == delivery_workflow_id(subscription_id, event.event_id)
        assert await starts.start_delivery(self.env.client, self.settings.task_queue, delivery) is None
        return subscription_id, delivery_id, handle

    async def delivery(self, delivery_id: str) -> Any:
        async with self.sessions() as s:
            return await events.get_delivery(s, delivery_id)

    async def deliveries(self, subscription_id: str, status: str) -> list[dict[str, Any]]:
        page = await self.api.get(f"/v1/webhooks/{subscription_id}/deliveries", params={"status": status})
        assert page.status_code == 200, page.text
        items: list[dict[str, Any]] = page.json()["items"]
        return items


@pytest.fixture
async def setup(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Setup]:
    settings = settings_for(sqlite_url)
    app = create_app(settings, temporal=time_skipping_env.client)
    admin = await make_key(sessions, Role.ADMIN)
    activities = WebhookActivities(sessions)
    async with (
        Worker(
            time_skipping_env.client,
            task_queue=settings.task_queue,
            workflows=[WebhookDeliveryWorkflow],
            activities=[activities.deliver_webhook, activities.dead_letter_webhook],
        ),
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://orderflow.test", headers=bearer(admin)
        ) as api,
    ):
        setup = Setup(time_skipping_env, settings, sessions, api)
        yield setup
        for hook in (await api.get("/v1/webhooks", params={"limit": 200})).json()["items"]:
            await api.delete(f"/v1/webhooks/{hook['subscription_id']}")


async def test_a_failing_receiver_gets_the_event_once_it_recovers(setup: Setup) -> None:
    receiver = Receiver(answer=lambda n: 503 if n <= 4 else 200)
    with serving(receiver):
        _, delivery_id, handle = await setup.deliver(receiver)
        assert await handle.result() == "delivered"
    delivery = await setup.delivery(delivery_id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 5, 200)
    assert len(receiver.received) == 1 and receiver.requests == 5
    assert receiver.received[0].event["type"] == "order.shipped"


async def test_a_subscriber_down_for_an_hour_is_served_within_minutes_of_coming_back(setup: Setup) -> None:
    up = False
    receiver = Receiver(answer=lambda _n: 200 if up else 503)
    with serving(receiver):
        _, delivery_id, handle = await setup.deliver(receiver)
        await setup.env.sleep(timedelta(hours=1))
        assert (await setup.delivery(delivery_id)).status == "pending"
        tries_while_down = receiver.requests
        assert 5 <= tries_while_down <= 20  # backing off, up to 10 minutes apart
        up = True
        back_at = await setup.env.get_current_time()
        assert await handle.result() == "delivered"
    assert receiver.requests == tries_while_down + 1 and len(receiver.received) == 1
    # The attempt that got through started at most the maximum backoff (10 minutes) after the receiver came back.
    history = await handle.fetch_history()
    started = [
        e.event_time.ToDatetime(UTC) for e in history.events if e.HasField("activity_task_started_event_attributes")
    ]
    assert back_at <= started[-1] <= back_at + timedelta(minutes=10, seconds=5)


async def test_a_410_is_dead_lettered_at_once_and_can_be_redelivered(setup: Setup) -> None:
    gone = True
    receiver = Receiver(answer=lambda _n: 410 if gone else 200)
    with serving(receiver):
        subscription_id, delivery_id, handle = await setup.deliver(receiver)
        assert await handle.result() == "failed"
        assert receiver.requests == 1  # not retried
        failed = await setup.deliveries(subscription_id, "failed")
        assert [(d["delivery_id"], d["attempts"], d["last_status_code"]) for d in failed] == [(delivery_id, 1, 410)]
        assert await setup.deliveries(subscription_id, "delivered") == []

        gone = False
        path = f"/v1/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver"
        redelivered = await setup.api.post(path)
        assert redelivered.status_code == 202, redelivered.text
        assert redelivered.json()["redeliveries"] == 1
        retry = setup.env.client.get_workflow_handle(delivery_workflow_id(subscription_id, failed[0]["event_id"], 1))
        assert await retry.result() == "delivered"
    delivered = await setup.deliveries(subscription_id, "delivered")
    assert [(d["delivery_id"], d["attempts"], d["status"]) for d in delivered] == [(delivery_id, 2, "delivered")]
    assert [r.event["id"] for r in receiver.received] == [failed[0]["event_id"]]
    unknown = await setup.api.post(f"/v1/webhooks/{subscription_id}/deliveries/nope/redeliver")
    assert unknown.status_code == 404


async def test_retries_end_after_the_window_and_a_pending_delivery_cannot_be_redelivered(setup: Setup) -> None:
    receiver = Receiver(answer=lambda _n: 503)
    with serving(receiver):
        subscription_id, delivery_id, handle = await setup.deliver(receiver, retry_hours=0.5)
        busy = await setup.api.post(f"/v1/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver")
        assert busy.status_code == 409, busy.text
        assert await handle.result() == "failed"
    delivery = await setup.delivery(delivery_id)
    assert delivery.status == "failed" and delivery.attempts >= 4 and delivery.last_status_code == 503
    assert (delivery.last_error or "").startswith("gave up after 0.5 h of retries")
    assert receiver.received == []


async def test_a_deactivated_subscription_stops_delivery(setup: Setup) -> None:
    receiver = Receiver(answer=lambda _n: 503)
    with serving(receiver):
        subscription_id, delivery_id, handle = await setup.deliver(receiver)
        await setup.env.sleep(timedelta(minutes=1))
        tried = receiver.requests
        assert tried >= 2
        paused = await setup.api.patch(f"/v1/webhooks/{subscription_id}", json={"active": False})
        assert paused.status_code == 200
        assert await handle.result() == "failed"
        assert receiver.requests == tried
    delivery = await setup.delivery(delivery_id)
    assert delivery.status == "failed" and "deactivated" in (delivery.last_error or "")
