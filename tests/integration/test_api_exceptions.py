"""People handling what needs a person, through the API, on the real dev server."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType

from config import WarehouseMode
from domain.access import Role
from domain.contract import SearchAttribute, order_workflow_id
from tests.conftest import Stack, StackFactory, bearer, make_key, order_body, stock_up, unique


async def open_exceptions(stack: Stack, order_id: str) -> list[dict[str, Any]]:
    page = (await stack.http.get("/v1/exceptions", params={"order_id": order_id})).json()
    items: list[dict[str, Any]] = page["items"]
    return items


async def eventually(read: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], within: float = 10) -> Any:
    """The read model follows the workflow a moment later: poll it until `check` holds."""
    deadline = asyncio.get_running_loop().time() + within
    while not check(value := await read()):
        assert asyncio.get_running_loop().time() < deadline, value
        await asyncio.sleep(0.1)
    return value


async def test_shortage_then_stock_arrives_then_retry_completes(stack_factory: StackFactory, database_url: str) -> None:
    async with stack_factory(database_url, mode=WarehouseMode.AUTO, backorder_window_hours=0) as stack:
        sku = unique("POSTER")
        await stock_up(stack.sessions, {sku: 1})
        order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 3}))).json()["order_id"]
        view = await stack.wait_for_status(order_id, "needs_attention")
        assert view["at_risk"] is True

        queue = await eventually(lambda: open_exceptions(stack, order_id), bool)
        assert [(e["kind"], e["allowed_actions"]) for e in queue] == [
            ("stock_shortage", ["retry", "ship_available", "cancel"])
        ]
        assert queue[0]["order_summary"].startswith("web ")
        alerts = (await stack.http.get("/v1/alerts", params={"order_id": order_id})).json()["items"]
        assert {a["kind"] for a in alerts} == {"exception_opened", "sla_at_risk"}  # written with the exception
        handle = stack.client.get_workflow_handle(order_workflow_id(order_id))
        attrs = (await handle.describe()).typed_search_attributes
        assert [
            p.value for p in attrs if p.key.name in (SearchAttribute.HAS_OPEN_EXCEPTION, SearchAttribute.AT_RISK)
        ] == [True, True]

        # Counted without waking waiting orders (a PUT would start a restock that may clear the exception
        # by itself before Carol acts): the retry is hers.
        await stock_up(stack.sessions, {sku: 10})
        exception_id = queue[0]["exception_id"]
        carol = await make_key(stack.sessions, Role.HANDLER, name="carol")
        resolved = await stack.http.post(
            f"/v1/orders/{order_id}/exceptions/{exception_id}/resolve",
            json={"action": "retry", "note": "stock counted"},
            headers=bearer(carol),
        )
        assert resolved.status_code == 200, resolved.text
        done = await stack.wait_for_status(order_id, "completed")
        entry = next(t for t in done["timeline"] if t["event"] == "exception_resolved")
        assert entry["actor"] == "key:carol" and "retry" in entry["detail"]
        audit = (await stack.http.get("/v1/audit", params={"order_id": order_id, "actor": "carol"})).json()["items"]
        assert [(a["method"], a["path"], a["status"], a["outcome"]) for a in audit] == [
            ("POST", f"/v1/orders/{order_id}/exceptions/{exception_id}/resolve", 200, "succeeded")
        ]
        await eventually(lambda: open_exceptions(stack, order_id), lambda q: q == [])
        everything = (await stack.http.get("/v1/exceptions", params={"order_id": order_id, "status": "all"})).json()
        assert [(e["resolution"], e["resolved_at"] is not None) for e in everything["items"]] == [("retry", True)]
        assert done["at_risk"] is False


async def test_ship_available_ships_what_is_there_and_the_rest_follows(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO, backorder_window_hours=0) as stack:
        plenty, scarce = unique("TEE"), unique("POSTER")
        await stock_up(stack.sessions, {plenty: 5, scarce: 1})
        order_id = (await stack.http.post("/v1/orders", json=order_body({plenty: 2, scarce: 3}))).json()["order_id"]
        view = await stack.wait_for_status(order_id, "needs_attention")
        exception_id = view["exceptions"][0]["exception_id"]
        url = f"/v1/orders/{order_id}/exceptions/{exception_id}/resolve"
        assert (await stack.http.post(url, json={"action": "ship_available"})).status_code == 200
        first = await stack.until(order_id, lambda v: v["fulfilments"] and v["fulfilments"][0]["invoice"])
        assert first["fulfilments"][0]["invoice"]["amount"]["amount"] == "30.00"
        assert [(b["sku"], b["quantity"]) for b in first["backordered"]] == [(scarce, 2)]

        receipt = {"warehouse": "MAIN", "reference": unique("ASN"), "lines": [{"sku": scarce, "quantity": 5}]}
        assert (await stack.http.post("/v1/inventory/receipts", json=receipt)).status_code == 201
        done = await stack.wait_for_status(order_id, "completed")
        assert len(done["fulfilments"]) == 2
        assert [(line["sku"], line["shipped"], line["invoiced"]) for line in done["lines"]] == [
            (plenty, 2, 2),
            (scarce, 3, 3),
        ]


async def test_rejected_address_is_changed_and_the_order_ships(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        sku = unique("TEE")
        await stock_up(stack.sessions, {sku: 5})
        body = order_body({sku: 1})
        body["ship_to"]["postal_code"] = "SH-200"  # not a Chinese postal code: the carrier refuses it
        order_id = (await stack.http.post("/v1/orders", json=body)).json()["order_id"]
        view = await stack.wait_for_status(order_id, "needs_attention")
        exception = view["exceptions"][0]
        assert (exception["kind"], exception["step"]) == ("address_rejected", "ship")

        # An action that does not fit the exception is refused with the reason, and nothing changes.
        handle = stack.client.get_workflow_handle(order_workflow_id(order_id))
        url = f"/v1/orders/{order_id}/exceptions/{exception['exception_id']}/resolve"
        refused = await stack.http.post(url, json={"action": "ship_available"})
        assert refused.status_code == 409
        assert "does not apply to address_rejected" in refused.json()["detail"]
        missing = await stack.http.post(url, json={"action": "change_address"})
        assert missing.status_code == 409 and "ship_to" in missing.json()["detail"]
        # Rejected by the validators: no update ever reached the history.
        history = await handle.fetch_history()
        assert not [e for e in history.events if "UPDATE" in EventType.Name(e.event_type)]

        new_address = {**body["ship_to"], "postal_code": "200120"}
        fixed = await stack.http.post(url, json={"action": "change_address", "ship_to": new_address})
        assert fixed.status_code == 200, fixed.text
        done = await stack.wait_for_status(order_id, "completed")
        assert done["ship_to"]["postal_code"] == "200120"


async def test_cancel_mid_pick_gives_the_stock_back(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.MANUAL) as stack:
        sku = unique("MUG")
        await stock_up(stack.sessions, {sku: 4})
        order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 3}))).json()["order_id"]
        view = await stack.wait_for_status(order_id, "picking")
        assert (await stack.http.get(f"/v1/inventory/MAIN/{sku}")).json()["available"] == 1

        cancelled = await stack.http.post(f"/v1/orders/{order_id}/cancel", json={"reason": "customer changed mind"})
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        stock = (await stack.http.get(f"/v1/inventory/MAIN/{sku}")).json()
        assert (stock["on_hand"], stock["reserved"], stock["available"]) == (4, 0, 4)
        pick_list_id = view["fulfilments"][0]["pick_list_id"]
        assert (await stack.http.post(f"/v1/pick-lists/{pick_list_id}/confirm")).status_code == 409
        again = await stack.http.post(f"/v1/orders/{order_id}/cancel", json={"reason": "customer changed mind"})
        assert again.status_code == 200 and again.json()["status"] == "cancelled"  # same request: same answer
        listed = (await stack.http.get("/v1/orders", params={"status": "cancelled", "limit": 200})).json()
        assert order_id in [o["order_id"] for o in listed["items"]]


async def test_cancel_after_shipment_is_refused(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        sku = unique("CAP")
        await stock_up(stack.sessions, {sku: 2})
        order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 1}))).json()["order_id"]
        await stack.wait_for_status(order_id, "completed")
        refused = await stack.http.post(f"/v1/orders/{order_id}/cancel", json={"reason": "too late"})
        assert refused.status_code == 409
        assert refused.headers["content-type"] == "application/problem+json"
        assert (await stack.http.get(f"/v1/inventory/MAIN/{sku}")).json()["on_hand"] == 1
        assert (await stack.http.post("/v1/orders/web-NOPE/cancel", json={"reason": "x"})).status_code == 404


async def test_the_same_resolution_twice_acts_once(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.MANUAL, backorder_window_hours=0) as stack:
        sku = unique("POSTER")
        await stock_up(stack.sessions, {sku: 0})
        order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 1}))).json()["order_id"]
        view = await stack.wait_for_status(order_id, "needs_attention")
        url = f"/v1/orders/{order_id}/exceptions/{view['exceptions'][0]['exception_id']}/resolve"
        first, second = await asyncio.gather(
            stack.http.post(url, json={"action": "retry"}), stack.http.post(url, json={"action": "retry"})
        )
        assert (first.status_code, second.status_code) == (200, 200)
        # The retry ran once: one more shortage, not two.
        view = await stack.until(order_id, lambda v: len(v["exceptions"]) >= 2)
        await asyncio.sleep(0.5)
        view = (await stack.http.get(f"/v1/orders/{order_id}")).json()
        assert [e["kind"] for e in view["exceptions"]] == ["stock_shortage", "stock_shortage"]
        assert sum(t["event"] == "exception_resolved" for t in view["timeline"]) == 1
        assert (await stack.http.post(url, json={"action": "cancel"})).status_code == 409  # resolved already
        unknown = f"/v1/orders/{order_id}/exceptions/{order_id}-EX99/resolve"
        assert (await stack.http.post(unknown, json={"action": "retry"})).status_code == 404


async def test_unattended_exception_climbs_the_ladder(stack_factory: StackFactory, sqlite_url: str) -> None:
    ladder = {"escalation_remind_minutes": 0.01, "escalation_manager_minutes": 0.01, "backorder_window_hours": 0}
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO, **ladder) as stack:
        sku = unique("POSTER")
        await stock_up(stack.sessions, {sku: 0})
        order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 1}))).json()["order_id"]
        view = await stack.until(order_id, lambda v: v["exceptions"] and v["exceptions"][0]["escalation_level"] == 2)
        assert [t["event"] for t in view["timeline"]][-2:] == ["exception_reminder", "exception_escalated"]
        await eventually(lambda: open_exceptions(stack, order_id), lambda q: q[0]["escalation_level"] == 2)
        alerts = (await stack.http.get("/v1/alerts", params={"order_id": order_id, "acknowledged": "false"})).json()
        assert {"exception_reminder", "exception_escalated"} <= {a["kind"] for a in alerts["items"]}
        escalated = next(a for a in alerts["items"] if a["kind"] == "exception_escalated")
        assert escalated["level"] == 2
        dan = await make_key(stack.sessions, Role.HANDLER, name="dan")
        ack = await stack.http.post(f"/v1/alerts/{escalated['alert_id']}/acknowledge", headers=bearer(dan))
        assert ack.status_code == 200 and ack.json()["acknowledged_by"] == "key:dan"
        acked = (await stack.http.get("/v1/alerts", params={"order_id": order_id, "acknowledged": "true"})).json()
        assert [a["alert_id"] for a in acked["items"]] == [escalated["alert_id"]]


async def test_hold_waits_before_the_next_step_and_release_lets_it_go(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.MANUAL) as stack:
        sku = unique("TEE")
        await stock_up(stack.sessions, {sku: 5})
        order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 1}))).json()["order_id"]
        view = await stack.wait_for_status(order_id, "picking")
        held = await stack.http.post(f"/v1/orders/{order_id}/hold", json={"reason": "fraud check"})
        assert held.status_code == 200 and held.json()["status"] == "on_hold"
        assert (await stack.http.post(f"/v1/orders/{order_id}/hold", json={"reason": "again"})).status_code == 409

        await stack.http.post(f"/v1/pick-lists/{view['fulfilments'][0]['pick_list_id']}/confirm")
        await asyncio.sleep(1)
        view = (await stack.http.get(f"/v1/orders/{order_id}")).json()
        assert (
            view["status"] == "on_hold" and view["fulfilments"][0]["shipment"] is None
        )  # picked, but not shipped while held

        released = await stack.http.post(f"/v1/orders/{order_id}/release", json={"note": "checked"})
        assert released.status_code == 200
        await stack.wait_for_status(order_id, "completed")
        assert (await stack.http.post(f"/v1/orders/{order_id}/release")).status_code == 409


async def test_big_orders_wait_for_approval(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        sku = unique("TV")
        await stock_up(stack.sessions, {sku: 5})
        rule = {
            "name": "big TV orders",
            "when": f'order.lines.exists(l, l.sku == "{sku}") && order.total > 15.0',
            "then": [{"type": "require_approval", "reason": "big order"}],
            "status": "active",
        }
        assert (await stack.http.post("/v1/rules", json=rule)).status_code == 201
        big = (await stack.http.post("/v1/orders", json=order_body({sku: 2}))).json()["order_id"]
        other = (await stack.http.post("/v1/orders", json=order_body({sku: 3}))).json()["order_id"]
        small = (await stack.http.post("/v1/orders", json=order_body({sku: 1}))).json()["order_id"]
        await stack.wait_for_status(small, "completed")
        await stack.wait_for_status(big, "awaiting_approval")
        await stack.wait_for_status(other, "awaiting_approval")
        assert (await stack.http.post(f"/v1/orders/{small}/approve")).status_code == 409

        approved = await stack.http.post(f"/v1/orders/{big}/approve", json={"note": "known customer"})
        assert approved.status_code == 200, approved.text
        await stack.wait_for_status(big, "completed")
        rejected = await stack.http.post(f"/v1/orders/{other}/reject", json={"note": "credit limit"})
        assert rejected.status_code == 200 and rejected.json()["status"] == "cancelled"
        assert (await stack.http.get(f"/v1/inventory/MAIN/{sku}")).json()["available"] == 2


async def test_change_address_before_shipping(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.MANUAL) as stack:
        sku = unique("TEE")
        await stock_up(stack.sessions, {sku: 5})
        body = order_body({sku: 1})
        order_id = (await stack.http.post("/v1/orders", json=body)).json()["order_id"]
        await stack.wait_for_status(order_id, "picking")
        new = {**body["ship_to"], "line1": "1 Nanjing Rd", "country": "CN"}
        changed = await stack.http.post(f"/v1/orders/{order_id}/change-address", json={"ship_to": new})
        assert changed.status_code == 200 and changed.json()["ship_to"]["line1"] == "1 Nanjing Rd"
        bad = await stack.http.post(f"/v1/orders/{order_id}/change-address", json={"ship_to": {"line1": "x"}})
        assert bad.status_code == 422
        held_until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        hold = await stack.http.post(f"/v1/orders/{order_id}/hold", json={"reason": "r", "until": held_until})
        assert hold.status_code == 200 and hold.json()["hold"]["until"] is not None
