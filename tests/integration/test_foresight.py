"""Inbound stock, the forecasting run, stockout alerts and suggestions through the API, on the real dev
server (docs/foresight.md)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from temporalio.client import Client

from config import WarehouseMode
from domain.foresight import ForecastSummary
from store.sql import utcnow
from store.tables import EventRow, OrderLineRow, OrderRow
from tests.conftest import Stack, StackFactory, order_body, stock_up, unique


async def seed_demand(stack: Stack, sku: str, per_day: int, days: int) -> None:
    """Orders received on each of the last `days` days, `per_day` units of `sku` each (the read model
    as the workflow would have left it)."""
    today = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    async with stack.sessions.begin() as s:
        for d in range(1, days + 1):
            order_id = f"hist-{sku}-{d}"
            at = today - timedelta(days=d)
            s.add(
                OrderRow(
                    order_id=order_id,
                    channel="hist",
                    external_id=f"{sku}-{d}",
                    customer_id="C",
                    customer_name="C",
                    customer_email="c@example.com",
                    ship_to={
                        "name": "A",
                        "line1": "1 Road",
                        "city": "Shanghai",
                        "postal_code": "200000",
                        "country": "CN",
                    },
                    currency="CNY",
                    total=0,
                    priority="standard",
                    status="completed",
                    fingerprint="x",
                    created_at=at,
                    updated_at=at,
                )
            )
            await s.flush()
            s.add(OrderLineRow(order_id=order_id, line_no=1, sku=sku, quantity=per_day, unit_price=100))


async def run_forecast(stack: Stack) -> ForecastSummary:
    started = await stack.http.post("/v1/forecasts/runs")
    assert started.status_code == 202, started.text
    client: Client = stack.client
    handle = client.get_workflow_handle(started.json()["workflow_id"], result_type=ForecastSummary)
    summary: ForecastSummary = await handle.result()
    return summary


async def events_of(stack: Stack, event_type: str, sku: str) -> list[dict[str, Any]]:
    async with stack.sessions() as s:
        rows = await s.execute(select(EventRow).where(EventRow.type == event_type))
        return [r.data for r in rows.scalars() if r.data.get("sku") == sku]


async def test_inbound_is_announced_rescheduled_and_closed_by_receipts(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url) as stack:
        lamp, desk = unique("LAMP"), unique("DESK")
        await stock_up(stack.sessions, {lamp: 0, desk: 0})
        ref = unique("PO")
        body = {
            "reference": ref,
            "warehouse": "MAIN",
            "expected_at": (utcnow() + timedelta(days=3)).isoformat(),
            "lines": [{"sku": lamp, "quantity": 10}, {"sku": desk, "quantity": 4}],
        }
        first = await stack.http.post("/v1/inbound", json=body)
        again = await stack.http.post("/v1/inbound", json=body)
        assert (first.status_code, again.status_code) == (201, 200), first.text
        inbound_id = first.json()["inbound_id"]
        assert again.json()["inbound_id"] == inbound_id and first.json()["status"] == "open"
        other = await stack.http.post("/v1/inbound", json={**body, "lines": [{"sku": lamp, "quantity": 1}]})
        assert other.status_code == 409
        bad = await stack.http.post(
            "/v1/inbound", json={**body, "reference": unique("PO"), "lines": [{"sku": "NOPE-1", "quantity": 1}]}
        )
        assert bad.status_code == 422 and "lines[0].sku" in bad.text

        later = (utcnow() + timedelta(days=5)).replace(microsecond=0)
        moved = await stack.http.patch(f"/v1/inbound/{inbound_id}", json={"expected_at": later.isoformat()})
        assert datetime.fromisoformat(moved.json()["expected_at"]) == later

        part = {
            "warehouse": "MAIN",
            "reference": f"{ref}-1",
            "inbound_id": inbound_id,
            "lines": [{"sku": lamp, "quantity": 10}],
        }
        received = await stack.http.post("/v1/inventory/receipts", json=part)
        assert received.json()["inbound_status"] == "partly_received"
        await stack.http.post("/v1/inventory/receipts", json=part)  # the same receipt again counts once
        # The rest arrives under the inbound's own reference: matched without naming it.
        rest = {"warehouse": "MAIN", "reference": ref, "lines": [{"sku": desk, "quantity": 4}]}
        assert (await stack.http.post("/v1/inventory/receipts", json=rest)).json()["inbound_status"] == "received"
        got = (await stack.http.get(f"/v1/inbound/{inbound_id}")).json()
        assert [(line["sku"], line["received"]) for line in got["lines"]] == sorted([(lamp, 10), (desk, 4)])
        closed = await stack.http.patch(f"/v1/inbound/{inbound_id}", json={"status": "closed"})
        assert closed.status_code == 409  # received in full: nothing to close
        listed = (await stack.http.get("/v1/inbound", params={"sku": lamp})).json()["items"]
        assert [i["inbound_id"] for i in listed] == [inbound_id]


async def test_a_backordered_order_shows_the_inbound_it_waits_for(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        sku = unique("POSTER")
        await stock_up(stack.sessions, {sku: 0})
        order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 3}))).json()["order_id"]
        await stack.wait_for_status(order_id, "backordered")
        late = (utcnow() + timedelta(days=30)).isoformat()
        body = {
            "reference": unique("ASN"),
            "warehouse": "MAIN",
            "expected_at": late,
            "lines": [{"sku": sku, "quantity": 5}],
        }
        inbound_id = (await stack.http.post("/v1/inbound", json=body)).json()["inbound_id"]
        view = (await stack.http.get(f"/v1/orders/{order_id}")).json()
        [expected] = view["expected_inbound"]
        assert expected["inbound_id"] == inbound_id and expected["quantity"] == 5
        assert expected["after_promise"] is True  # 30 days is past a standard order's promise


async def test_a_forecast_run_warns_of_a_stockout_suggests_a_reorder_and_clears_itself(
    stack_factory: StackFactory, database_url: str
) -> None:
    async with stack_factory(database_url) as stack:
        sku, calm = unique("CAP"), unique("MUG")
        await stock_up(stack.sessions, {sku: 30, calm: 1000})
        await seed_demand(stack, sku, per_day=10, days=60)
        await seed_demand(stack, calm, per_day=2, days=60)
        summary = await run_forecast(stack)
        assert summary.series >= 2 and summary.raised >= 1

        [forecast] = (await stack.http.get("/v1/forecasts", params={"sku": sku})).json()
        assert forecast["pattern"] == "smooth" and abs(forecast["daily"][0] - 10) < 1 and forecast["mae"] < 1
        at_risk = (await stack.http.get("/v1/stock/projections", params={"at_risk": "true"})).json()
        mine = [p for p in at_risk if p["sku"] in (sku, calm)]
        assert [p["sku"] for p in mine] == [sku]  # 30 units at 10 a day: out in 3 days; the mugs are fine
        stockout = datetime.fromisoformat(mine[0]["stockout_at"])
        assert timedelta(days=2) < stockout - datetime.now(UTC) < timedelta(days=4)

        alerts = [a for a in (await stack.http.get("/v1/stock/alerts")).json() if a["sku"] == sku]
        assert len(alerts) == 1 and alerts[0]["kind"] == "stockout_predicted"
        assert alerts[0]["detail"]["available"] == 30 and alerts[0]["detail"]["lead_time_days"] == 7
        assert len(await events_of(stack, "inventory.stockout_predicted", sku)) == 1

        suggestions = (await stack.http.get("/v1/replenishment")).json()
        [suggestion] = [p for p in suggestions if p["sku"] == sku]
        # 7 days at 10 a day plus safety stock, topped up to 14 more days: at least 70 + 140 - 30.
        assert suggestion["reorder_point"] >= 70 and suggestion["suggested_quantity"] >= 180
        csv_text = (await stack.http.get("/v1/replenishment", params={"format": "csv"})).text
        assert csv_text.startswith("sku,warehouse,") and sku in csv_text

        await run_forecast(stack)  # a second run while still at risk: no second alert
        assert len([a for a in (await stack.http.get("/v1/stock/alerts")).json() if a["sku"] == sku]) == 1

        reorder = {
            "sku": sku,
            "warehouse": "MAIN",
            "reference": unique("PO"),
            "expected_at": (utcnow() + timedelta(hours=12)).isoformat(),
        }
        made = await stack.http.post("/v1/replenishment/reorder", json=reorder)
        assert made.status_code == 201, made.text
        assert made.json()["lines"] == [{"sku": sku, "quantity": suggestion["suggested_quantity"], "received": 0}]
        assert made.json()["source"] == "suggestion"

        await run_forecast(stack)  # the inbound arrives in 12 hours: the projection is safe again
        open_now = [a for a in (await stack.http.get("/v1/stock/alerts")).json() if a["sku"] == sku]
        assert open_now == []
        assert len(await events_of(stack, "inventory.stockout_cleared", sku)) == 1
        [projection] = (await stack.http.get("/v1/stock/projections", params={"sku": sku})).json()
        assert projection["at_risk"] is False and projection["inbound"] == suggestion["suggested_quantity"]
