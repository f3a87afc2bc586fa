"""Moving the ship-by promise through the API: refused with the field at fault, or recorded everywhere."""

from datetime import UTC, datetime, timedelta

from config import WarehouseMode
from store.tables import OrderRow
from tests.conftest import StackFactory, order_body, stock_up, unique


async def test_a_promise_moves_with_a_reason_to_a_future_date_only(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.MANUAL) as stack:
        tee = unique("TEE")
        await stock_up(stack.sessions, {tee: 5})
        order_id = (await stack.http.post("/v1/orders", json=order_body({tee: 1}))).json()["order_id"]
        await stack.wait_for_status(order_id, "picking")
        edits = f"/v1/orders/{order_id}/edits"
        now = datetime.now(UTC)

        past = await stack.http.post(edits, json={"ship_by": (now - timedelta(hours=1)).isoformat(), "reason": "x"})
        assert past.status_code == 422 and past.json()["errors"][0]["field"] == "ship_by"
        far = await stack.http.post(edits, json={"ship_by": (now + timedelta(days=400)).isoformat(), "reason": "x"})
        assert far.status_code == 422 and far.json()["errors"][0]["field"] == "ship_by"
        later = (now + timedelta(days=6)).replace(microsecond=0)
        silent = await stack.http.post(edits, json={"ship_by": later.isoformat()})
        assert silent.status_code == 422 and silent.json()["errors"][0]["field"] == "reason"

        preview = await stack.http.post(edits, json={"ship_by": later.isoformat(), "reason": "x", "preview": True})
        assert preview.status_code == 200 and datetime.fromisoformat(preview.json()["ship_by"]) == later
        moved = await stack.http.post(edits, json={"ship_by": later.isoformat(), "reason": "customer away"})
        assert moved.status_code == 200, moved.text
        assert datetime.fromisoformat(moved.json()["ship_by"]) == later
        entry = [t for t in moved.json()["timeline"] if t["event"] == "edited"][-1]
        assert "customer away" in entry["detail"] and later.isoformat() in entry["detail"]
        async with stack.sessions() as s:
            row = await s.get(OrderRow, order_id)
            assert row is not None and row.ship_by is not None and row.ship_by.replace(tzinfo=UTC) == later
