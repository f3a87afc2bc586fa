"""Business events on NATS JetStream (the server on this machine), with the event id as message id."""

import asyncio
import contextlib
import os
from datetime import UTC, datetime
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.bus import EventBus
from activities.outbox import Relay, RelayOptions
from config import WarehouseMode
from domain.contract import WorkflowType, delivery_workflow_id
from domain.events import BusinessEvent, event_id
from store import events
from tests.conftest import StackFactory, order_body, stock_up, unique
from tests.integration.test_api_exceptions import eventually

NATS_URL = os.environ.get("ORDERFLOW_TEST_NATS", "nats://127.0.0.1:4222")


class Listener:
    """A JetStream subscriber of everything orderflow publishes from now on."""

    def __init__(self) -> None:
        self.messages: list[Msg] = []

    async def __aenter__(self) -> "Listener":
        self._nc = await nats.connect(NATS_URL)
        js = self._nc.jetstream()
        await (await EventBus.connect(NATS_URL)).close()  # the stream exists before we listen to it
        self._sub = await js.subscribe("orderflow.>", ordered_consumer=True, deliver_policy=DeliverPolicy.NEW)
        self._task = asyncio.create_task(self._collect())
        return self

    async def _collect(self) -> None:
        async for message in self._sub.messages:
            self.messages.append(message)

    async def __aexit__(self, *_: Any) -> None:
        self._task.cancel()
        await self._nc.close()

    def of(self, order_id: str) -> list[Msg]:
        return [m for m in self.messages if f'"order_id":"{order_id}"'.encode() in m.data]


async def test_publishing_the_same_event_twice_stores_it_once() -> None:
    order_id = f"web-{unique('BUS')}"
    event = BusinessEvent(
        event_id(order_id, "shipped:SH-1"), "order.shipped", order_id, datetime.now(UTC), {"order_id": order_id}
    )
    bus = await EventBus.connect(NATS_URL)
    try:
        async with Listener() as listener:
            assert await bus.publish(event) is True
            assert await bus.publish(event) is False  # JetStream saw this Nats-Msg-Id already
            await eventually(lambda: asyncio.sleep(0.3, listener.of(order_id)), bool)
            await asyncio.sleep(0.5)
            [message] = listener.of(order_id)
        assert message.subject == "orderflow.order.shipped"
        assert message.headers is not None and message.headers["Nats-Msg-Id"] == event.event_id
    finally:
        await bus.close()


async def test_an_orders_events_reach_the_bus_with_their_ids(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with Listener() as listener:
        settings = {"nats_url": NATS_URL, "relay_interval_seconds": 0.2}
        async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO, **settings) as stack:
            sku = unique("BUS")
            await stock_up(stack.sessions, {sku: 3})
            order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 1}))).json()["order_id"]
            await stack.wait_for_status(order_id, "completed")
            outbox = await eventually(
                lambda: stack.http.get("/v1/events", params={"order_id": order_id}),
                lambda r: len(r.json()["items"]) == 5 and all(e["dispatched_at"] for e in r.json()["items"]),
            )
            await eventually(lambda: asyncio.sleep(0.2, listener.of(order_id)), lambda got: len(got) >= 5)
        by_id = {e["id"]: e["type"] for e in outbox.json()["items"]}
        seen = {m.headers["Nats-Msg-Id"]: m.subject for m in listener.of(order_id) if m.headers}
        assert seen == {id_: f"orderflow.{type_}" for id_, type_ in by_id.items()}
        assert len(listener.of(order_id)) == 5


async def test_with_nats_away_webhooks_still_flow_and_the_bus_catches_up(
    dev_env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession]
) -> None:
    order_id = f"web-{unique('AWAY')}"
    data = {"order_id": order_id}
    event = BusinessEvent(event_id(order_id, "received"), "order.received", order_id, datetime.now(UTC), data)
    async with sessions.begin() as s:
        await events.record(s, [event])
        hook = await events.create_subscription(s, "http://127.0.0.1:9/hooks", ["order.received"], "s" * 16, True)
    queue = unique("tq")  # nobody polls it: the delivery workflow is started, and waits
    delivery = dev_env.client.get_workflow_handle(delivery_workflow_id(hook.subscription_id, event.event_id))
    try:
        away = Relay(dev_env.client, sessions, RelayOptions(queue, nats_url="nats://127.0.0.1:1"))
        assert await away.dispatch() == -1  # the bus is away, and the pass says so
        async with sessions() as s:
            row = await events.get_event(s, event.event_id)
            assert row is not None and row.dispatched_at is not None and row.published_at is None
        assert (
            await delivery.describe()
        ).workflow_type == WorkflowType.WEBHOOK_DELIVERY  # the webhook went on regardless

        back = Relay(dev_env.client, sessions, RelayOptions(queue, nats_url=NATS_URL))
        async with Listener() as listener:
            await back.dispatch()
            await eventually(lambda: asyncio.sleep(0.2, listener.of(order_id)), bool)
        await back.close()
        async with sessions() as s:
            row = await events.get_event(s, event.event_id)
            assert row is not None and row.published_at is not None
    finally:
        async with sessions.begin() as s:
            await events.delete_subscription(s, hook.subscription_id)
        with contextlib.suppress(RPCError):
            await delivery.terminate("test over")
