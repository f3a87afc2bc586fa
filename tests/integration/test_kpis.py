"""GET /v1/kpis over real orders run through the dev server; roles and channel scoping."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from config import WarehouseMode
from domain.access import Role
from tests.conftest import Stack, StackFactory, bearer, make_key, order_body, stock_up, unique
from tests.integration.test_api_exceptions import eventually


def window(**extra: str) -> dict[str, str]:
    now = datetime.now(UTC)
    return {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat(), **extra}


async def kpis_of(stack: Stack, channel: str) -> dict[str, Any]:
    response = await stack.http.get("/v1/kpis", params=window(channel=channel))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_kpis_of_a_touchless_order_and_one_a_person_cancelled(
    stack_factory: StackFactory, database_url: str
) -> None:
    channel = f"kpi{uuid.uuid4().hex[:8]}"  # a channel of its own: the database is shared with other tests
    async with stack_factory(database_url, mode=WarehouseMode.AUTO, backorder_window_hours=0) as stack:
        plenty, scarce = unique("TEE"), unique("POSTER")
        await stock_up(stack.sessions, {plenty: 10, scarce: 1})
        smooth = (await stack.http.post("/v1/orders", json=order_body({plenty: 2}, channel=channel))).json()
        stuck = (await stack.http.post("/v1/orders", json=order_body({scarce: 3}, channel=channel))).json()
        await stack.wait_for_status(smooth["order_id"], "completed")
        view = await stack.wait_for_status(stuck["order_id"], "needs_attention")
        dana = await make_key(stack.sessions, Role.HANDLER, name=f"dana{uuid.uuid4().hex[:6]}")
        exception_id = view["exceptions"][0]["exception_id"]
        resolved = await stack.http.post(
            f"/v1/orders/{stuck['order_id']}/exceptions/{exception_id}/resolve",
            json={"action": "cancel", "note": "customer agreed"},
            headers=bearer(dana),
        )
        assert resolved.status_code == 200, resolved.text
        await stack.wait_for_status(stuck["order_id"], "cancelled")

        body = await eventually(
            lambda: kpis_of(stack, channel),
            lambda b: b["kpis"]["manual_intervention"]["numerator"] == 1 and b["kpis"]["throughput"]["completed"] == 1,
        )
        kpis = body["kpis"]
        assert kpis["orders"] == 2
        assert kpis["cycle_time"]["to_shipped"]["count"] == 1
        assert kpis["cycle_time"]["to_shipped"]["p50"] < 0.1  # hours: the built-in warehouse ships at once
        assert kpis["manual_intervention"]["rate"] == 0.5
        assert kpis["manual_intervention"]["breakdown"] == {"cancelled": 1, "exception_resolved": 1}
        assert kpis["touchless"]["numerator"] == 1
        # A shortage is not an error, and a person's cancel is not a system's.
        assert (kpis["errors"]["numerator"], kpis["errors"]["breakdown"]) == (0, {})
        shortage = kpis["exception_response"]["stock_shortage"]
        assert (shortage["count"], shortage["open"], shortage["to_first_action"]["count"]) == (1, 0, 1)
        # The shortage order (no partial shipments) reserved none of its 3 units at its first allocation.
        assert (kpis["fill_rate"]["numerator"], kpis["fill_rate"]["denominator"]) == (2, 5)
        # Warned when the shortage opened, 72 h (standard promise) before its ship-by.
        assert kpis["early_warning"]["warned"] == 1
        assert 71.9 < kpis["early_warning"]["lead_min"] <= 72
        assert kpis["throughput"] == {
            "completed": 1,
            "person_days": 1,
            "orders_per_person_per_day": 1.0,
            "days_without_people": 0,
        }
        assert body["window"]["bucket"] == "hour"
        assert sum(p["orders"] for p in body["series"]) == 2
        assert kpis["on_time_ship"]["on_time"] == 1


async def test_roles_and_channel_scoping(stack_factory: StackFactory, sqlite_url: str) -> None:
    channel = f"kpi{uuid.uuid4().hex[:8]}"
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        sku = unique("TEE")
        await stock_up(stack.sessions, {sku: 10})
        mine = (await stack.http.post("/v1/orders", json=order_body({sku: 1}, channel=channel))).json()
        await stack.http.post("/v1/orders", json=order_body({sku: 1}, channel="web"))
        await stack.wait_for_status(mine["order_id"], "completed")

        for role in (Role.VIEWER, Role.HANDLER, Role.ADMIN):
            seen = await stack.http.get("/v1/kpis", params=window(), headers=stack.as_role(role))
            assert seen.status_code == 200, (role, seen.text)
        own = bearer(await make_key(stack.sessions, Role.CHANNEL, channel))
        scoped = await stack.http.get("/v1/kpis", params=window(), headers=own)
        assert scoped.status_code == 200, scoped.text
        assert (scoped.json()["window"]["channel"], scoped.json()["kpis"]["orders"]) == (channel, 1)
        other = await stack.http.get("/v1/kpis", params=window(channel="web"), headers=own)
        assert other.status_code == 403
        assert other.json()["errors"][0]["field"] == "channel"
        partner = await stack.http.get("/v1/kpis", params=window(), headers=stack.as_role(Role.PARTNER))
        assert partner.status_code == 403
        assert (
            await stack.http.get("/v1/kpis", params=window(), headers={"Authorization": "Basic x"})
        ).status_code == 401

        definitions = await stack.http.get("/v1/kpis/definitions", headers=stack.as_role(Role.VIEWER))
        assert definitions.status_code == 200
        assert {d["name"] for d in definitions.json()} >= {"cycle_time", "manual_intervention", "errors"}


async def test_bad_windows_are_refused_naming_the_field(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url) as stack:
        bad = await stack.http.get("/v1/kpis", params={"from": "yesterday"})
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in bad.json()["errors"]] == ["from"]
        backwards = await stack.http.get("/v1/kpis", params={"from": "2026-03-02T00:00:00Z", "to": "2026-03-01"})
        assert (backwards.status_code, backwards.json()["errors"][0]["field"]) == (422, "to")
        too_long = await stack.http.get("/v1/kpis", params={"from": "2020-01-01", "to": "2026-01-01"})
        assert (too_long.status_code, too_long.json()["errors"][0]["field"]) == (422, "to")
        channel = await stack.http.get("/v1/kpis", params={"channel": "Not A Channel"})
        assert (channel.status_code, channel.json()["errors"][0]["field"]) == (422, "channel")
        daily = await stack.http.get("/v1/kpis")
        assert daily.status_code == 200
        assert (daily.json()["window"]["bucket"], len(daily.json()["series"])) == ("day", 31)
