"""Business events reach webhook subscribers through the real API, worker, relay and dev server."""

import asyncio
from collections import Counter
from typing import Any

from config import WarehouseMode
from domain.signing import SIGNATURE_HEADER
from tests.conftest import Stack, StackFactory, order_body, stock_up, unique
from tests.integration.test_api_exceptions import eventually
from tests.webhooks.receiver import Receiver, serving

HAPPY = ["order.received", "order.confirmed", "order.allocated", "order.shipped", "order.completed"]


async def subscribe(stack: Stack, url: str, types: list[str], secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url, "event_types": types} | ({"secret": secret} if secret else {})
    created = await stack.http.post("/v1/webhooks", json=body)
    assert created.status_code == 201, created.text
    hook: dict[str, Any] = created.json()
    return hook


async def settled(stack: Stack, subscription_id: str, count: int, within: float = 20) -> list[dict[str, Any]]:
    """Wait until `count` deliveries of the subscription exist and none is still pending."""

    async def read() -> list[dict[str, Any]]:
        page = await stack.http.get(f"/v1/webhooks/{subscription_id}/deliveries", params={"limit": 200})
        items: list[dict[str, Any]] = page.json()["items"]
        return items

    found: list[dict[str, Any]] = await eventually(
        read, lambda items: len(items) >= count and all(d["status"] != "pending" for d in items), within
    )
    return found


async def unsubscribe(stack: Stack, *hooks: dict[str, Any]) -> None:
    """Subscriptions live in the shared test database: leave none behind for the next test's relay."""
    for hook in hooks:
        await stack.http.delete(f"/v1/webhooks/{hook['subscription_id']}")


async def test_every_event_of_an_order_arrives_once_signed(stack_factory: StackFactory, database_url: str) -> None:
    everything, shipped_only = Receiver(), Receiver()
    with serving(everything), serving(shipped_only):
        async with stack_factory(database_url, mode=WarehouseMode.AUTO, relay_interval_seconds=0.2) as stack:
            hook = await subscribe(stack, everything.url, ["*"])
            everything.secret = hook["secret"]
            assert everything.secret.startswith("whsec_")
            assert "secret" not in (await stack.http.get(f"/v1/webhooks/{hook['subscription_id']}")).json()
            narrow = await subscribe(stack, shipped_only.url, ["order.shipped"], secret="s3cret-of-the-erp-team")
            shipped_only.secret = "s3cret-of-the-erp-team"
            try:
                sku = unique("HOOK")
                await stock_up(stack.sessions, {sku: 5})
                order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 2}))).json()["order_id"]
                await stack.wait_for_status(order_id, "completed")
                await eventually(
                    lambda: asyncio.sleep(0, everything.events_of(order_id)), lambda got: len(got) >= len(HAPPY)
                )
                await settled(stack, hook["subscription_id"], len(HAPPY))
                await settled(stack, narrow["subscription_id"], 1)
                await asyncio.sleep(1)  # time for a duplicate to show up, if there were one

                got = everything.events_of(order_id)
                assert Counter(e["type"] for e in got) == Counter(HAPPY)
                assert len({e["id"] for e in got}) == len(HAPPY)
                assert everything.refused == []
                shipped = next(e for e in got if e["type"] == "order.shipped")
                assert shipped["data"]["shipment_id"].startswith("SH-")
                assert shipped["data"]["tracking_number"]
                arrival = next(r for r in everything.received if r.event["id"] == shipped["id"])
                assert arrival.headers["orderflow-event-id"] == shipped["id"]
                assert arrival.headers["orderflow-event-type"] == "order.shipped"
                assert arrival.headers[SIGNATURE_HEADER.lower()].startswith(f"t={arrival.signed_at},v1=")

                assert [e["type"] for e in shipped_only.events_of(order_id)] == ["order.shipped"]
                assert shipped_only.events_of(order_id)[0]["id"] == shipped["id"]  # one event, one id

                outbox = (await stack.http.get("/v1/events", params={"order_id": order_id})).json()["items"]
                assert {e["id"] for e in outbox} == {e["id"] for e in got}
            finally:
                await unsubscribe(stack, hook, narrow)


async def test_backorders_exceptions_and_cancellations_are_events(stack_factory: StackFactory, sqlite_url: str) -> None:
    """A shortage parks the order; the exception escalates, a person cancels: each step is an event."""
    receiver = Receiver()
    settings: dict[str, Any] = {
        "relay_interval_seconds": 0.2,
        "backorder_window_hours": 0,
        "escalation_remind_minutes": 0.01,
        "escalation_manager_minutes": 0.02,
    }
    with serving(receiver):
        async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO, **settings) as stack:
            hook = await subscribe(stack, receiver.url, ["*"])
            receiver.secret = hook["secret"]
            try:
                scarce = unique("NONE")
                await stock_up(stack.sessions, {scarce: 0})
                order_id = (await stack.http.post("/v1/orders", json=order_body({scarce: 1}))).json()["order_id"]
                view = await stack.until(order_id, lambda v: any(e["escalation_level"] == 2 for e in v["exceptions"]))
                exception_id = view["exceptions"][0]["exception_id"]
                resolved = await stack.http.post(
                    f"/v1/orders/{order_id}/exceptions/{exception_id}/resolve", json={"action": "cancel"}
                )
                assert resolved.status_code == 200, resolved.text

                expected = [
                    "order.received",
                    "order.confirmed",
                    "order.backordered",
                    "exception.opened",
                    "alert.sla_at_risk",
                    "exception.escalated",
                    "exception.resolved",
                    "order.cancelled",
                ]
                got = await eventually(
                    lambda: asyncio.sleep(0, receiver.events_of(order_id)), lambda got: len(got) >= len(expected), 20
                )
                await settled(stack, hook["subscription_id"], len(expected))
                got = receiver.events_of(order_id)
                assert Counter(e["type"] for e in got) == Counter(expected)
                events = {e["type"]: e for e in got}
                assert events["exception.opened"]["data"]["exception_id"] == exception_id
                assert events["exception.escalated"]["data"]["level"] == 2
                assert events["exception.resolved"]["data"]["resolution"] == "cancel"
                assert events["exception.resolved"]["data"]["kind"] == "stock_shortage"
                assert events["order.cancelled"]["data"]["status"] == "cancelled"
                assert receiver.refused == []
            finally:
                await unsubscribe(stack, hook)


async def test_subscriptions_are_validated_and_managed(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url) as stack:
        for body, field in [
            ({"url": "ftp://example.com/x", "event_types": ["*"]}, "url"),
            ({"url": "https://example.com/x", "event_types": ["order.exploded"]}, "event_types"),
            ({"url": "https://example.com/x", "event_types": []}, "event_types"),
            ({"url": "https://example.com/x", "event_types": ["*"], "secret": "short"}, "secret"),
            ({"url": "https://example.com/x", "event_types": ["*"], "colour": "red"}, "colour"),
        ]:
            refused = await stack.http.post("/v1/webhooks", json=body)
            assert refused.status_code == 422, body
            assert refused.headers["content-type"] == "application/problem+json"
            assert field in [e["field"] for e in refused.json()["errors"]], refused.json()

        hook = await subscribe(stack, "https://example.com/hooks", ["order.shipped", "order.shipped"])
        assert hook["event_types"] == ["order.shipped"] and hook["active"] is True
        path = f"/v1/webhooks/{hook['subscription_id']}"
        changed = await stack.http.patch(path, json={"active": False, "event_types": ["*"]})
        assert changed.status_code == 200 and changed.json()["active"] is False
        assert changed.json()["event_types"] == ["*"]
        listed = (await stack.http.get("/v1/webhooks", params={"limit": 200})).json()["items"]
        assert hook["subscription_id"] in [h["subscription_id"] for h in listed]
        assert (await stack.http.get(f"{path}/deliveries", params={"status": "lost"})).status_code == 422
        assert (await stack.http.delete(path)).status_code == 204
        assert (await stack.http.get(path)).status_code == 404
        assert (await stack.http.get(f"{path}/deliveries")).status_code == 404


async def test_a_receiver_stopped_and_started_again_gets_the_backlog(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    receiver = Receiver()
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO, relay_interval_seconds=0.2) as stack:
        sku = unique("BACKLOG")
        await stock_up(stack.sessions, {sku: 10})
        with serving(receiver):
            hook = await subscribe(stack, receiver.url, ["*"])
            receiver.secret = hook["secret"]
        port = int(receiver.url.split(":")[2].split("/")[0])
        try:
            # The receiver is stopped: orders go on, deliveries keep trying.
            order_ids = [(await stack.http.post("/v1/orders", json=order_body({sku: 1}))).json()["order_id"]]
            order_ids.append((await stack.http.post("/v1/orders", json=order_body({sku: 2}))).json()["order_id"])
            for order_id in order_ids:
                await stack.wait_for_status(order_id, "completed")

            async def tried() -> list[dict[str, Any]]:
                page = await stack.http.get(
                    f"/v1/webhooks/{hook['subscription_id']}/deliveries", params={"status": "pending", "limit": 200}
                )
                items: list[dict[str, Any]] = page.json()["items"]
                return items

            waiting = await eventually(tried, lambda items: len(items) >= 2 * len(HAPPY), within=20)
            assert all(d["last_error"] for d in waiting if d["attempts"])  # connection refused, retried
            assert receiver.received == []

            with serving(receiver, port):  # back on the same address
                for order_id in order_ids:
                    await eventually(
                        lambda o=order_id: asyncio.sleep(0, receiver.events_of(o)),  # type: ignore[misc]
                        lambda got: len(got) >= len(HAPPY),
                        within=30,
                    )
                await settled(stack, hook["subscription_id"], 2 * len(HAPPY), within=30)
            for order_id in order_ids:
                got = receiver.events_of(order_id)
                assert Counter(e["type"] for e in got) == Counter(HAPPY), order_id
            assert receiver.refused == []
        finally:
            await unsubscribe(stack, hook)
