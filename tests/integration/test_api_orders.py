"""The real API against a real Temporal dev server and a real database (SQLite and PostgreSQL)."""

import asyncio
from typing import Any

from sqlalchemy import func, select
from temporalio.service import RPCError, RPCStatusCode

from config import WarehouseMode
from domain.contract import SearchAttribute, order_workflow_id
from store import catalog
from store.tables import Invoice, OrderRow, PickList, Reservation, Shipment, Stock
from tests.conftest import Stack, StackFactory, order_body, stock_up, unique
from workflows import attributes


async def rows(stack: Stack, table: Any, order_id: str) -> int:
    async with stack.sessions() as s:
        query = select(func.count()).select_from(table).where(table.order_id == order_id)
        return int((await s.execute(query)).scalar_one())


async def workflow_exists(stack: Stack, order_id: str) -> bool:
    try:
        await stack.client.get_workflow_handle(order_workflow_id(order_id)).describe()
    except RPCError as err:
        assert err.status is RPCStatusCode.NOT_FOUND
        return False
    return True


async def test_submitted_order_flows_to_completed(stack_factory: StackFactory, database_url: str) -> None:
    async with stack_factory(database_url, mode=WarehouseMode.AUTO) as stack:
        sku = unique("TEE")
        await stock_up(stack.sessions, {sku: 10})
        created = await stack.http.post("/v1/orders", json=order_body({sku: 3}, external_id="WEB-" + sku))
        assert created.status_code == 201, created.text
        order_id = created.json()["order_id"]
        assert created.headers["location"] == f"/v1/orders/{order_id}"
        assert created.json()["status"] == "received"

        view = await stack.wait_for_status(order_id, "completed")
        assert view["total"] == {"amount": "30.00", "currency": "CNY"}
        [fulfilment] = view["fulfilments"]
        assert fulfilment["shipment"]["tracking_number"].startswith("OF")
        assert fulfilment["invoice"]["number"].startswith("INV-")
        assert [(line["quantity"], line["allocated"], line["shipped"], line["invoiced"]) for line in view["lines"]] == [
            (3, 3, 3, 3)
        ]
        assert [t["event"] for t in view["timeline"]][-1] == "invoiced"

        stock = (await stack.http.get(f"/v1/inventory/MAIN/{sku}")).json()
        assert (stock["on_hand"], stock["reserved"], stock["available"]) == (7, 0, 7)
        for table in (Reservation, PickList, Shipment, Invoice):
            assert await rows(stack, table, order_id) == 1

        listed = (await stack.http.get("/v1/orders", params={"external_id": "WEB-" + sku})).json()
        assert [(o["order_id"], o["status"]) for o in listed["items"]] == [(order_id, "completed")]

        handle = stack.client.get_workflow_handle(order_workflow_id(order_id))
        description = await handle.describe()
        assert description.typed_search_attributes.get(attributes.ORDER_STATUS) == "completed"
        assert description.typed_search_attributes.get(attributes.CHANNEL) == "web"
        assert await description.static_summary() == f"web WEB-{sku} · 1 line · 30.00 CNY"
        query = f'{SearchAttribute.ORDER_STATUS}="completed" AND WorkflowId="{handle.id}"'
        for _ in range(50):
            found = [w.id async for w in stack.client.list_workflows(query)]
            if found:
                break
            await asyncio.sleep(0.1)
        assert found == [handle.id]


async def test_resubmission_is_the_same_order_and_a_changed_one_conflicts(
    stack_factory: StackFactory, database_url: str
) -> None:
    async with stack_factory(database_url) as stack:
        sku = unique("MUG")
        await stock_up(stack.sessions, {sku: 5})
        body = order_body({sku: 1})
        first = await stack.http.post("/v1/orders", json=body)
        again = await stack.http.post("/v1/orders", json=body)
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["order_id"] == first.json()["order_id"]
        assert again.json()["existing"] is True

        changed = await stack.http.post("/v1/orders", json={**body, "lines": [{**body["lines"][0], "quantity": 2}]})
        assert changed.status_code == 409
        assert changed.headers["content-type"] == "application/problem+json"

        # Once the read model has it, the answer comes from there too.
        await stack.wait_for_status(first.json()["order_id"], "picking")
        assert (await stack.http.post("/v1/orders", json=body)).status_code == 200
        assert (await stack.http.post("/v1/orders", json={**body, "currency": "USD"})).status_code == 409


async def test_fifty_concurrent_identical_submissions_make_one_order(
    stack_factory: StackFactory, database_url: str
) -> None:
    async with stack_factory(database_url) as stack:
        sku = unique("CAP")
        await stock_up(stack.sessions, {sku: 100})
        body = order_body({sku: 1})
        responses = await asyncio.gather(*(stack.http.post("/v1/orders", json=body) for _ in range(50)))
        codes = sorted(r.status_code for r in responses)
        assert codes == [200] * 49 + [201]
        order_id = responses[0].json()["order_id"]
        assert {r.json()["order_id"] for r in responses} == {order_id}
        await stack.wait_for_status(order_id, "picking")
        assert await rows(stack, OrderRow, order_id) == 1
        assert await rows(stack, Reservation, order_id) == 1
        found = [w.id async for w in stack.client.list_workflows(f'WorkflowId="{order_workflow_id(order_id)}"')]
        assert len(found) <= 1  # visibility may lag; the ID policy itself guarantees one execution


async def test_invalid_orders_are_refused_with_the_field_and_leave_nothing(
    stack_factory: StackFactory, database_url: str
) -> None:
    async with stack_factory(database_url) as stack:
        sku = unique("TEE")
        await stock_up(stack.sessions, {sku: 5})
        cases: list[tuple[dict[str, Any], str]] = [
            ({**order_body({sku: 1}), "discount": "100%"}, "discount"),
            (order_body({sku: 0}), "lines[0].quantity"),
            (
                {**order_body({sku: 1}), "lines": [{"sku": sku, "quantity": 1, "unit_price": "1.001"}]},
                "lines[0].unit_price",
            ),
            (order_body({unique("GHOST"): 1}), "lines[0].sku"),
            ({**order_body({sku: 1}), "currency": "XXX"}, "currency"),
            ({**order_body({sku: 1}), "ship_to": {"line1": "x"}}, "ship_to.name"),
            ({**order_body({sku: 1}), "channel": "Bad Channel!"}, "channel"),
            ({**order_body({sku: 1}), "ship_by": "2026-12-01T10:00:00"}, "ship_by"),
            (order_body({}), "lines"),
        ]
        for body, field in cases:
            response = await stack.http.post("/v1/orders", json=body)
            assert response.status_code == 422, (field, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert field in [e["field"] for e in response.json()["errors"]], (field, response.json())
            order_id = f"{body['channel']}-{body['external_id']}"
            assert not await workflow_exists(stack, order_id)

        garbage = await stack.http.post(
            "/v1/orders", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert garbage.status_code == 422
        assert garbage.json()["errors"][0]["field"] == "body"
        async with stack.sessions() as s:
            stock = await s.get(Stock, ("MAIN", sku))
            assert stock is not None and stock.reserved == 0


async def test_manual_pick_confirmation_moves_the_order_on(stack_factory: StackFactory, database_url: str) -> None:
    async with stack_factory(database_url, mode=WarehouseMode.MANUAL) as stack:
        sku = unique("TEE")
        await stock_up(stack.sessions, {sku: 5})
        order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 2}))).json()["order_id"]
        view = await stack.wait_for_status(order_id, "picking")
        pick_list_id = view["fulfilments"][0]["pick_list_id"]
        await asyncio.sleep(0.5)
        assert (await stack.http.get(f"/v1/orders/{order_id}")).json()["status"] == "picking"  # it waits

        confirmed = await stack.http.post(f"/v1/pick-lists/{pick_list_id}/confirm", json={"confirmed_by": "bob"})
        assert confirmed.status_code == 202, confirmed.text
        assert confirmed.json()["order_id"] == order_id
        view = await stack.wait_for_status(order_id, "completed")
        assert next(t for t in view["timeline"] if t["event"] == "picked")["actor"] == "bob"

        assert (await stack.http.post(f"/v1/pick-lists/{pick_list_id}/confirm")).status_code == 409
        assert (await stack.http.post("/v1/pick-lists/PL-nope/confirm")).status_code == 404


async def test_stock_shortage_leaves_a_visible_order_needing_attention(
    stack_factory: StackFactory, database_url: str
) -> None:
    async with stack_factory(database_url, mode=WarehouseMode.AUTO, backorder_window_hours=0) as stack:
        sku = unique("POSTER")
        await stock_up(stack.sessions, {sku: 2})
        order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 5}))).json()["order_id"]
        view = await stack.wait_for_status(order_id, "needs_attention")
        assert [(e["kind"], e["step"]) for e in view["exceptions"]] == [("stock_shortage", "allocate")]
        for _ in range(100):  # the read model follows the workflow a moment later
            listed = (await stack.http.get("/v1/orders", params={"status": "needs_attention", "limit": 200})).json()
            if order_id in [o["order_id"] for o in listed["items"]]:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"{order_id} never listed as needing attention")
        stock = (await stack.http.get(f"/v1/inventory/MAIN/{sku}")).json()
        assert stock["reserved"] == 0


async def test_unknown_orders_are_404(stack_factory: StackFactory, database_url: str) -> None:
    async with stack_factory(database_url) as stack:
        for order_id in ("web-NOPE-1", "not an id"):
            response = await stack.http.get(f"/v1/orders/{order_id}")
            assert response.status_code == 404
            assert response.headers["content-type"] == "application/problem+json"


async def test_order_list_filters_and_pages(stack_factory: StackFactory, database_url: str) -> None:
    async with stack_factory(database_url) as stack:
        sku = unique("TEE")
        channel = "c" + unique("x").lower().replace("-", "")
        await stock_up(stack.sessions, {sku: 50})
        ids = []
        for _ in range(5):
            ids.append(
                (await stack.http.post("/v1/orders", json=order_body({sku: 1}, channel=channel))).json()["order_id"]
            )
        for order_id in ids:
            await stack.wait_for_status(order_id, "picking")
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"channel": channel, "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await stack.http.get("/v1/orders", params=params)).json()
            seen += [o["order_id"] for o in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert sorted(seen) == sorted(ids)
        assert len(seen) == len(set(seen))
        assert (await stack.http.get("/v1/orders", params={"cursor": "garbage"})).status_code == 422
        assert (await stack.http.get("/v1/orders", params={"status": "lost"})).status_code == 422


async def test_orders_are_found_by_customer_id_or_email_or_name_in_any_case_and_paged(
    stack_factory: StackFactory, database_url: str
) -> None:
    async with stack_factory(database_url) as stack:
        sku = unique("TEE")
        await stock_up(stack.sessions, {sku: 50})
        marker = unique("C")
        customer = {"id": marker, "name": f"Wang {marker}", "email": f"{marker}@Example.COM"}
        mine = [
            (await stack.http.post("/v1/orders", json=order_body({sku: 1}, customer=customer))).json()["order_id"]
            for _ in range(3)
        ]
        other = (await stack.http.post("/v1/orders", json=order_body({sku: 1}))).json()["order_id"]
        for order_id in [*mine, other]:
            await stack.wait_for_status(order_id, "picking")
        for search in (marker, f"{marker}@example.com", f"WANG {marker.lower()}"):
            first = (await stack.http.get("/v1/orders", params={"customer": search, "limit": 2})).json()
            rest = (
                await stack.http.get("/v1/orders", params={"customer": search, "cursor": first["next_cursor"]})
            ).json()
            assert [o["order_id"] for o in first["items"] + rest["items"]] == list(reversed(mine)), search
        assert (await stack.http.get("/v1/orders", params={"customer": marker.lower()})).json()["items"] == []


async def test_catalog_and_stock_can_be_set_up_over_the_api(stack_factory: StackFactory, database_url: str) -> None:
    async with stack_factory(database_url) as stack:
        sku = unique("NEW")
        created = await stack.http.put(f"/v1/products/{sku}", json={"name": "New thing", "unit_price": "12.50"})
        assert created.status_code == 201, created.text
        assert created.json()["unit_price"] == {"amount": "12.50", "currency": "CNY"}
        updated = await stack.http.put(
            f"/v1/products/{sku}", json={"name": "New thing", "unit_price": "13", "active": False}
        )
        assert updated.status_code == 200 and updated.json()["active"] is False
        assert (
            await stack.http.put(f"/v1/products/{sku}", json={"name": "x", "unit_price": "1.999"})
        ).status_code == 422

        stock = await stack.http.put(f"/v1/inventory/MAIN/{sku}", json={"on_hand": 7})
        assert stock.status_code == 200
        assert stock.json() == {**stock.json(), "on_hand": 7, "reserved": 0, "available": 7}
        assert (await stack.http.put(f"/v1/inventory/MAIN/{sku}", json={"on_hand": -1})).status_code == 422
        assert (await stack.http.put(f"/v1/inventory/NOWHERE/{sku}", json={"on_hand": 1})).status_code == 404
        assert (await stack.http.put("/v1/inventory/MAIN/UNKNOWN-SKU", json={"on_hand": 1})).status_code == 404
        listed = (await stack.http.get("/v1/inventory", params={"warehouse": "MAIN", "limit": 200})).json()
        assert sku in [s["sku"] for s in listed["items"]]

        # A SKU named like a route's literal segment is a SKU on every route.
        named = {"name": "Ledger book", "unit_price": "3"}
        assert (await stack.http.put("/v1/products/ledger", json=named)).status_code in (200, 201)
        assert (await stack.http.put("/v1/inventory/MAIN/ledger", json={"on_hand": 3})).status_code == 200
        assert (await stack.http.get("/v1/products/ledger")).json()["name"] == "Ledger book"
        assert (await stack.http.get("/v1/inventory/MAIN/ledger")).json()["on_hand"] == 3
        moves = (await stack.http.get("/v1/products/ledger/ledger", params={"warehouse": "MAIN"})).json()["items"]
        assert moves and {m["sku"] for m in moves} == {"ledger"}

        # An inactive product cannot be ordered.
        refused = await stack.http.post("/v1/orders", json=order_body({sku: 1}))
        assert refused.status_code == 422
        assert "not active" in refused.json()["errors"][0]["message"]


async def test_a_product_deactivated_elsewhere_is_still_caught_by_the_confirm_step(
    stack_factory: StackFactory, database_url: str
) -> None:
    """The API believes a product active for `catalog_cache_seconds`; an order that slips through in that
    window is refused by its workflow's confirm step, which reads the catalogue itself, and takes no stock."""
    async with stack_factory(database_url, mode=WarehouseMode.AUTO, catalog_cache_seconds=3) as stack:
        sku = unique("FADING")
        await stock_up(stack.sessions, {sku: 5})
        first = await stack.http.post("/v1/orders", json=order_body({sku: 1}))  # the API now believes it active
        assert first.status_code == 201, first.text
        async with stack.sessions.begin() as s:  # as another API process or a script would
            await catalog.put_product(s, sku, f"product {sku}", 1000, "CNY", False)

        slipped = await stack.http.post("/v1/orders", json=order_body({sku: 1}))
        assert slipped.status_code == 201, slipped.text
        order_id = slipped.json()["order_id"]
        view = await stack.until(order_id, lambda v: bool(v["exceptions"]))
        assert [e["kind"] for e in view["exceptions"]] == ["order_invalid"]
        assert "not active" in view["exceptions"][0]["message"]
        async with stack.sessions() as s:
            held = await s.scalar(select(func.count()).select_from(Reservation).where(Reservation.order_id == order_id))
        assert held == 0

        await asyncio.sleep(3.1)
        refused = await stack.http.post("/v1/orders", json=order_body({sku: 1}))
        assert refused.status_code == 422 and "not active" in refused.json()["errors"][0]["message"]


async def test_health_reports_both_dependencies(stack_factory: StackFactory, database_url: str) -> None:
    async with stack_factory(database_url) as stack:
        response = await stack.http.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok", "temporal": "ok"}
