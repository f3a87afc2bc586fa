"""A backordered order and the inbound due for it, through the API on the real dev server: warned as
soon as the inbound is known to come after its ship-by, cleared when the inbound moves back in time
(docs/foresight.md#backordered-orders-and-their-inbound)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from config import WarehouseMode
from tests.conftest import StackFactory, order_body, stock_up, unique


def open_warnings(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in view["exceptions"] if e["kind"] == "sla_at_risk" and e["resolved_at"] is None]


async def test_a_backordered_order_is_warned_when_its_inbound_comes_after_ship_by(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        sku = unique("CAP")
        await stock_up(stack.sessions, {sku: 0})
        order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 4}))).json()["order_id"]
        view = await stack.wait_for_status(order_id, "backordered")
        assert open_warnings(view) == [] and view["at_risk"] is False
        ship_by = datetime.fromisoformat(view["ship_by"])

        late = (ship_by + timedelta(days=2)).replace(microsecond=0)
        body = {"reference": unique("PO"), "warehouse": "MAIN", "expected_at": late.isoformat()}
        made = await stack.http.post("/v1/inbound", json={**body, "lines": [{"sku": sku, "quantity": 10}]})
        inbound_id = made.json()["inbound_id"]

        view = await stack.until(order_id, open_warnings)
        [warning] = open_warnings(view)
        assert inbound_id in warning["message"] and late.isoformat() in warning["message"]
        assert view["status"] == "backordered" and view["at_risk"] is True  # a warning: the order still waits
        alerts = (await stack.http.get("/v1/alerts", params={"order_id": order_id, "kind": "sla_at_risk"})).json()
        assert [late.isoformat() in a["message"] for a in alerts["items"]] == [True]
        [expected] = view["expected_inbound"]
        assert datetime.fromisoformat(expected["expected_at"]) == late and expected["after_promise"] is True
        outlook = [t for t in view["timeline"] if t["event"] == "inbound_expected"]
        assert len(outlook) == 1 and late.isoformat() in outlook[0]["detail"]

        in_time = (ship_by - timedelta(days=1)).replace(microsecond=0)
        moved = await stack.http.patch(f"/v1/inbound/{inbound_id}", json={"expected_at": in_time.isoformat()})
        assert moved.status_code == 200, moved.text

        view = await stack.until(order_id, lambda v: not open_warnings(v))
        [closed] = [e for e in view["exceptions"] if e["exception_id"] == warning["exception_id"]]
        assert closed["resolved_by"] == "system" and "in time" in closed["note"]
        assert view["status"] == "backordered" and view["at_risk"] is False
        [expected] = view["expected_inbound"]
        assert datetime.fromisoformat(expected["expected_at"]) == in_time and expected["after_promise"] is False
        outlook = [t for t in view["timeline"] if t["event"] == "inbound_expected"]
        assert in_time.isoformat() in outlook[-1]["detail"]


async def test_an_order_backordered_after_the_inbound_was_announced_is_warned_as_it_starts_waiting(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    """The inbound that counts is the one by which enough has come: a small one before ship-by does not
    make the order's date, a larger one after it does, and the order is warned as soon as it waits."""
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        sku = unique("MUG")
        await stock_up(stack.sessions, {sku: 0})
        now = datetime.now(UTC)
        soon = (now + timedelta(days=1)).replace(microsecond=0)
        late = (now + timedelta(days=10)).replace(microsecond=0)  # a standard order's promise is 72 h
        for at, quantity in ((soon, 2), (late, 10)):
            body = {"reference": unique("ASN"), "warehouse": "MAIN", "expected_at": at.isoformat()}
            made = await stack.http.post("/v1/inbound", json={**body, "lines": [{"sku": sku, "quantity": quantity}]})
            assert made.status_code == 201, made.text
        order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 6}))).json()["order_id"]
        await stack.wait_for_status(order_id, "backordered")
        view = await stack.until(order_id, open_warnings)
        [warning] = open_warnings(view)
        assert late.isoformat() in warning["message"] and soon.isoformat() not in warning["message"]
        assert view["status"] == "backordered"
        [expected] = view["expected_inbound"]
        assert datetime.fromisoformat(expected["expected_at"]) == late and expected["quantity"] == 10
