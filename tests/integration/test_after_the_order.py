"""After the order is placed: the unshipped remainder cancelled, through the API on the real dev server."""

from config import WarehouseMode
from tests.conftest import Stack, StackFactory, order_body, stock_up, unique
from tests.integration.test_fulfilment import warehouse

PARTIAL = {"channel_policies": {"b2b": {"allow_partial_shipment": True}}}


async def stock_of(stack: Stack, code: str, sku: str) -> tuple[int, int]:
    stock = (await stack.http.get(f"/v1/inventory/{code}/{sku}")).json()
    return stock["on_hand"], stock["reserved"]


async def test_the_backordered_remainder_of_a_partly_shipped_order_is_cancelled(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO, **PARTIAL) as stack:
        sku = unique("BOLT")
        await stock_up(stack.sessions, {sku: 3})
        order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 5}, channel="b2b"))).json()["order_id"]
        first = await stack.until(order_id, lambda v: v["fulfilments"] and v["fulfilments"][0]["invoice"])
        assert first["status"] == "backordered"

        cancelled = await stack.http.post(
            f"/v1/orders/{order_id}/cancel-remainder", json={"reason": "no longer needed"}
        )
        assert cancelled.status_code == 200, cancelled.text
        done = await stack.wait_for_status(order_id, "completed")
        assert done["backordered"] == []
        assert [(line["shipped"], line["invoiced"]) for line in done["lines"]] == [(3, 3)]
        assert [f["invoice"]["amount"]["amount"] for f in done["fulfilments"]] == ["30.00"]
        assert "remainder_cancelled" in [t["event"] for t in done["timeline"]]
        assert await stock_of(stack, "MAIN", sku) == (0, 0)

        # A receipt later does not revive it.
        assert (await stack.http.put(f"/v1/inventory/MAIN/{sku}", json={"on_hand": 4})).status_code == 200
        assert await stock_of(stack, "MAIN", sku) == (4, 0)

        again = await stack.http.post(f"/v1/orders/{order_id}/cancel-remainder", json={"reason": "twice"})
        assert again.status_code == 200  # the same request again answers as the first did
        other = await stack.http.post(f"/v1/orders/{order_id}/cancel", json={"reason": "too late"})
        assert other.status_code == 409


async def test_the_unpicked_part_of_a_split_order_is_cancelled_and_its_stock_released(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.MANUAL) as stack:
        north, south = await warehouse(stack, "BJ", 1), await warehouse(stack, "GD", 2)
        lamp, desk = unique("LAMP"), unique("DESK")
        await stock_up(stack.sessions, {lamp: 3}, warehouse=north)
        await stock_up(stack.sessions, {desk: 3}, warehouse=south)
        order_id = (await stack.http.post("/v1/orders", json=order_body({lamp: 2, desk: 1}))).json()["order_id"]
        view = await stack.until(order_id, lambda v: len([f for f in v["fulfilments"] if f["pick_list_id"]]) == 2)

        early = await stack.http.post(f"/v1/orders/{order_id}/cancel-remainder", json={"reason": "early"})
        assert early.status_code == 409 and "nothing has shipped" in early.json()["detail"]

        lamps = next(f for f in view["fulfilments"] if f["warehouse"] == north)
        desks = next(f for f in view["fulfilments"] if f["warehouse"] == south)
        assert (await stack.http.post(f"/v1/pick-lists/{lamps['pick_list_id']}/confirm")).status_code == 202
        await stack.until(order_id, lambda v: any(f["invoice"] for f in v["fulfilments"]))

        cancelled = await stack.http.post(f"/v1/orders/{order_id}/cancel-remainder", json={"reason": "desk not needed"})
        assert cancelled.status_code == 200, cancelled.text
        done = await stack.wait_for_status(order_id, "completed")
        by_warehouse = {f["warehouse"]: f for f in done["fulfilments"]}
        assert by_warehouse[south]["cancelled"] and by_warehouse[south]["invoice"] is None
        assert by_warehouse[north]["invoice"]["amount"]["amount"] == "20.00"
        assert [(line["sku"], line["shipped"], line["invoiced"]) for line in done["lines"]] == [
            (lamp, 2, 2),
            (desk, 0, 0),
        ]
        assert await stock_of(stack, south, desk) == (3, 0)
        assert await stock_of(stack, north, lamp) == (1, 0)
        late = await stack.http.post(f"/v1/pick-lists/{desks['pick_list_id']}/confirm")
        assert late.status_code == 409


async def test_nothing_left_to_cancel_is_refused(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        sku = unique("TEE")
        await stock_up(stack.sessions, {sku: 2})
        order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 1}))).json()["order_id"]
        await stack.wait_for_status(order_id, "completed")
        refused = await stack.http.post(f"/v1/orders/{order_id}/cancel-remainder", json={"reason": "late"})
        assert refused.status_code == 409
        assert "nothing remains" in refused.json()["detail"]


async def pick_all(stack: Stack, order_id: str) -> None:
    view = (await stack.http.get(f"/v1/orders/{order_id}")).json()
    for f in view["fulfilments"]:
        if f["pick_list_id"] and not f["cancelled"] and not f["picked_at"]:
            assert (await stack.http.post(f"/v1/pick-lists/{f['pick_list_id']}/confirm")).status_code == 202


async def test_an_edit_before_pick_adds_a_line_that_is_allocated_shipped_and_invoiced(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.MANUAL) as stack:
        tee, cap = unique("TEE"), unique("CAP")
        await stock_up(stack.sessions, {tee: 5, cap: 5})
        order_id = (await stack.http.post("/v1/orders", json=order_body({tee: 2}))).json()["order_id"]
        await stack.until(order_id, lambda v: v["fulfilments"] and v["fulfilments"][0]["pick_list_id"])

        change = {"lines": [{"sku": cap, "quantity": 3, "unit_price": "4.50"}, {"sku": tee, "quantity": 1}]}
        preview = await stack.http.post(f"/v1/orders/{order_id}/edits", json={**change, "preview": True})
        assert preview.status_code == 200, preview.text
        plan = preview.json()
        assert plan["total"]["amount"] == "23.50" and plan["difference"]["amount"] == "3.50"
        assert plan["to_reserve"] == [
            {"sku": tee, "quantity": 1, "available": 3},
            {"sku": cap, "quantity": 3, "available": 5},
        ]
        assert plan["to_release"] == [{"sku": tee, "quantity": 2}] and plan["replaces"] == [f"{order_id}.1"]
        unchanged = (await stack.http.get(f"/v1/orders/{order_id}")).json()
        assert unchanged["total"]["amount"] == "20.00" and len(unchanged["fulfilments"]) == 1

        committed = await stack.http.post(f"/v1/orders/{order_id}/edits", json={**change, "reason": "customer called"})
        assert committed.status_code == 200, committed.text
        edited = committed.json()
        assert edited["total"]["amount"] == "23.50"
        assert [(line["sku"], line["quantity"]) for line in edited["lines"]] == [(tee, 1), (cap, 3)]
        assert edited["fulfilments"][0]["cancelled"]
        entry = next(t for t in edited["timeline"] if t["event"] == "edited")
        assert entry["actor"].startswith("key:") and "customer called" in entry["detail"]

        await stack.until(order_id, lambda v: any(f["pick_list_id"] for f in v["fulfilments"][1:]))
        await pick_all(stack, order_id)
        done = await stack.wait_for_status(order_id, "completed")
        invoiced = [f["invoice"]["amount"]["amount"] for f in done["fulfilments"] if f["invoice"]]
        assert invoiced == ["23.50"]
        assert [(line["shipped"], line["invoiced"]) for line in done["lines"]] == [(1, 1), (3, 3)]
        assert await stock_of(stack, "MAIN", tee) == (4, 0)
        assert await stock_of(stack, "MAIN", cap) == (2, 0)
        events = (await stack.http.get(f"/v1/orders/{order_id}")).json()["timeline"]
        assert "pick_list_created" in [t["event"] for t in events]


async def test_an_edit_is_refused_once_its_line_is_picked(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.MANUAL) as stack:
        tee, cap = unique("TEE"), unique("CAP")
        await stock_up(stack.sessions, {tee: 5, cap: 5})
        order_id = (await stack.http.post("/v1/orders", json=order_body({tee: 2}))).json()["order_id"]
        await stack.until(order_id, lambda v: v["fulfilments"] and v["fulfilments"][0]["pick_list_id"])
        await pick_all(stack, order_id)
        await stack.until(order_id, lambda v: v["fulfilments"][0]["picked_at"])

        refused = await stack.http.post(f"/v1/orders/{order_id}/edits", json={"lines": [{"sku": tee, "quantity": 3}]})
        assert refused.status_code == 409
        assert "can no longer" in refused.json()["detail"]
        unknown = await stack.http.post(
            f"/v1/orders/{order_id}/edits", json={"lines": [{"sku": unique("NOPE"), "quantity": 1, "unit_price": "1"}]}
        )
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "lines[0].sku"
        view = await stack.wait_for_status(order_id, "completed")
        assert [(line["sku"], line["quantity"]) for line in view["lines"]] == [(tee, 2)]
        assert await stock_of(stack, "MAIN", tee) == (3, 0)
