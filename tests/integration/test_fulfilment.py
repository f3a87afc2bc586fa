"""Warehouses, split shipments and backorders through the API, on the real dev server."""

import asyncio

from config import WarehouseMode
from tests.conftest import Stack, StackFactory, order_body, stock_up, unique


async def warehouse(stack: Stack, region: str, priority: int) -> str:
    code = unique("WH").replace("-", "")[:12]
    body = {"name": f"{region} warehouse", "country": "CN", "region": region, "priority": priority}
    created = await stack.http.put(f"/v1/warehouses/{code}", json=body)
    assert created.status_code == 201, created.text
    return code


async def test_an_order_ships_from_the_warehouse_in_its_region(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        north, east = await warehouse(stack, "BJ", 1), await warehouse(stack, "SH", 9)
        sku = unique("TEE")
        await stock_up(stack.sessions, {sku: 5}, warehouse=north)
        await stock_up(stack.sessions, {sku: 5}, warehouse=east)
        body = order_body({sku: 2})
        body["ship_to"]["region"] = "SH"
        order_id = (await stack.http.post("/v1/orders", json=body)).json()["order_id"]
        view = await stack.wait_for_status(order_id, "completed")
        assert [f["warehouse"] for f in view["fulfilments"]] == [east]
        assert "in the ship-to region" in view["allocation_reason"]
        assert (await stack.http.get(f"/v1/warehouses/{east}")).json()["region"] == "SH"


async def test_an_order_no_warehouse_can_fill_alone_ships_in_two_parcels(
    stack_factory: StackFactory, database_url: str
) -> None:
    async with stack_factory(database_url, mode=WarehouseMode.AUTO) as stack:
        north, south = await warehouse(stack, "BJ", 1), await warehouse(stack, "GD", 2)
        lamp, desk = unique("LAMP"), unique("DESK")
        await stock_up(stack.sessions, {lamp: 3}, warehouse=north)
        await stock_up(stack.sessions, {desk: 3}, warehouse=south)
        order_id = (await stack.http.post("/v1/orders", json=order_body({lamp: 1, desk: 2}))).json()["order_id"]
        view = await stack.wait_for_status(order_id, "completed")

        assert sorted(f["warehouse"] for f in view["fulfilments"]) == sorted([north, south])
        tracking = {f["shipment"]["tracking_number"] for f in view["fulfilments"]}
        invoices = {f["invoice"]["number"] for f in view["fulfilments"]}
        assert len(tracking) == 2 and len(invoices) == 2
        assert sorted(f["invoice"]["amount"]["amount"] for f in view["fulfilments"]) == ["10.00", "20.00"]
        assert [(line["quantity"], line["shipped"], line["invoiced"]) for line in view["lines"]] == [
            (1, 1, 1),
            (2, 2, 2),
        ]
        assert "split across" in view["allocation_reason"]


async def test_a_backordered_order_completes_after_a_receipt(stack_factory: StackFactory, database_url: str) -> None:
    async with stack_factory(database_url, mode=WarehouseMode.AUTO) as stack:
        sku = unique("LAMP")
        await stock_up(stack.sessions, {sku: 0})
        order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 4}))).json()["order_id"]
        view = await stack.wait_for_status(order_id, "backordered")
        assert view["backordered"] == [{"sku": sku, "quantity": 4}]
        assert view["exceptions"] == []

        receipt = {"warehouse": "MAIN", "reference": unique("ASN"), "lines": [{"sku": sku, "quantity": 6}]}
        first = await stack.http.post("/v1/inventory/receipts", json=receipt)
        again = await stack.http.post("/v1/inventory/receipts", json=receipt)
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["receipt_id"] == first.json()["receipt_id"]
        await stack.wait_for_status(order_id, "completed")

        stock = (await stack.http.get(f"/v1/inventory/MAIN/{sku}")).json()
        assert (stock["on_hand"], stock["reserved"]) == (2, 0)  # received once, not twice
        ledger = (await stack.http.get(f"/v1/products/{sku}/ledger")).json()["items"]
        assert [m["kind"] for m in ledger] == ["receipt", "reservation", "shipment"]
        assert sum(m["on_hand_change"] for m in ledger) == stock["on_hand"]
        assert sum(m["reserved_change"] for m in ledger) == stock["reserved"]


async def test_a_receipt_serves_rush_orders_first_then_the_oldest(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.MANUAL) as stack:
        sku = unique("SCARCE")
        await stock_up(stack.sessions, {sku: 0})
        oldest = (await stack.http.post("/v1/orders", json=order_body({sku: 1}))).json()["order_id"]
        await stack.wait_for_status(oldest, "backordered")
        newest = (await stack.http.post("/v1/orders", json=order_body({sku: 1}))).json()["order_id"]
        await stack.wait_for_status(newest, "backordered")
        rush = (await stack.http.post("/v1/orders", json=order_body({sku: 1}, priority="rush"))).json()["order_id"]
        await stack.wait_for_status(rush, "backordered")

        receipt = {"warehouse": "MAIN", "reference": unique("ASN"), "lines": [{"sku": sku, "quantity": 2}]}
        assert (await stack.http.post("/v1/inventory/receipts", json=receipt)).status_code == 201
        await stack.wait_for_status(rush, "picking")
        await stack.wait_for_status(oldest, "picking")
        await asyncio.sleep(1)
        assert (await stack.http.get(f"/v1/orders/{newest}")).json()["status"] == "backordered"


async def test_a_channel_that_ships_in_parts_ships_twice(stack_factory: StackFactory, sqlite_url: str) -> None:
    policies = {"channel_policies": {"b2b": {"allow_partial_shipment": True}}}
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO, **policies) as stack:
        sku = unique("BOLT")
        await stock_up(stack.sessions, {sku: 3})
        order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 5}, channel="b2b"))).json()["order_id"]
        first = await stack.until(order_id, lambda v: v["fulfilments"] and v["fulfilments"][0]["invoice"])
        assert first["status"] == "backordered"
        assert first["backordered"] == [{"sku": sku, "quantity": 2}]

        assert (await stack.http.put(f"/v1/inventory/MAIN/{sku}", json={"on_hand": 4})).status_code == 200
        done = await stack.wait_for_status(order_id, "completed")
        assert [f["lines"] for f in done["fulfilments"]] == [
            [{"sku": sku, "quantity": 3}],
            [{"sku": sku, "quantity": 2}],
        ]
        assert [(line["shipped"], line["invoiced"]) for line in done["lines"]] == [(5, 5)]


async def test_cancelling_a_split_order_gives_back_all_of_its_stock(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.MANUAL) as stack:
        north, south = await warehouse(stack, "BJ", 1), await warehouse(stack, "GD", 2)
        lamp, desk = unique("LAMP"), unique("DESK")
        await stock_up(stack.sessions, {lamp: 3}, warehouse=north)
        await stock_up(stack.sessions, {desk: 3}, warehouse=south)
        order_id = (await stack.http.post("/v1/orders", json=order_body({lamp: 2, desk: 2}))).json()["order_id"]
        await stack.until(order_id, lambda v: len([f for f in v["fulfilments"] if f["pick_list_id"]]) == 2)
        cancelled = await stack.http.post(f"/v1/orders/{order_id}/cancel", json={"reason": "changed mind"})
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert all(f["cancelled"] for f in cancelled.json()["fulfilments"])
        for code, sku in ((north, lamp), (south, desk)):
            stock = (await stack.http.get(f"/v1/inventory/{code}/{sku}")).json()
            assert (stock["on_hand"], stock["reserved"]) == (3, 0)


async def test_stock_released_by_a_cancel_goes_to_the_order_waiting_for_it(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.MANUAL) as stack:
        sku = unique("LAST")
        await stock_up(stack.sessions, {sku: 1})
        holder = (await stack.http.post("/v1/orders", json=order_body({sku: 1}))).json()["order_id"]
        await stack.wait_for_status(holder, "picking")
        waiter = (await stack.http.post("/v1/orders", json=order_body({sku: 1}))).json()["order_id"]
        await stack.wait_for_status(waiter, "backordered")

        assert (await stack.http.post(f"/v1/orders/{holder}/cancel", json={"reason": "fraud"})).status_code == 200
        await stack.wait_for_status(waiter, "picking")
