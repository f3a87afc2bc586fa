"""Returns (RMA) through the API on the real dev server: request, approve or decline, receive with
dispositions (stock and ledger), refund by credit note."""

import pytest
from temporalio.exceptions import ApplicationError

from activities.returns import RefundReturn, ReturnActivities
from config import WarehouseMode
from domain.steps import StockLine
from tests.conftest import Stack, StackFactory, order_body, stock_up, unique


async def shipped_order(stack: Stack, lines: dict[str, int]) -> str:
    order_id: str = (await stack.http.post("/v1/orders", json=order_body(lines))).json()["order_id"]
    await stack.wait_for_status(order_id, "completed")
    return order_id


async def until_return(stack: Stack, return_id: str, status: str) -> dict:  # type: ignore[type-arg]
    import asyncio

    for _ in range(300):
        body = (await stack.http.get(f"/v1/returns/{return_id}")).json()
        if body["status"] == status:
            return body  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{return_id} never reached {status}: {body}")


async def test_a_return_of_two_lines_with_mixed_dispositions_restocks_and_refunds_exactly(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        tee, cap = unique("TEE"), unique("CAP")
        await stock_up(stack.sessions, {tee: 5, cap: 5})
        order_id = await shipped_order(stack, {tee: 2, cap: 1})

        asked = await stack.http.post(
            f"/v1/orders/{order_id}/returns",
            json={"lines": [{"sku": tee, "quantity": 2, "reason": "too small"}, {"sku": cap, "quantity": 1}]},
        )
        assert asked.status_code == 201, asked.text
        return_id = asked.json()["return_id"]
        assert asked.headers["location"] == f"/v1/returns/{return_id}"
        await until_return(stack, return_id, "requested")
        twice = await stack.http.post(f"/v1/orders/{order_id}/returns", json={"lines": [{"sku": tee, "quantity": 1}]})
        assert twice.status_code == 422 and twice.json()["errors"][0]["field"] == "lines[0].quantity"

        approved = await stack.http.post(f"/v1/returns/{return_id}/approve", json={"note": "ok"})
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved" and approved.json()["label"]

        report = {
            "report_id": "RCV-1",
            "lines": [
                {"sku": tee, "quantity": 1, "disposition": "restock"},
                {"sku": tee, "quantity": 1, "disposition": "damaged"},
                {"sku": cap, "quantity": 1, "disposition": "missing"},
            ],
        }
        received = await stack.http.post(f"/v1/returns/{return_id}/receive", json=report)
        assert received.status_code == 200, received.text
        again = await stack.http.post(f"/v1/returns/{return_id}/receive", json=report)
        assert again.status_code == 200  # the same report acts once

        done = await until_return(stack, return_id, "closed")
        assert done["refunded"] == {"amount": "20.00", "currency": "CNY"}  # two tees; the missing cap is not refunded
        assert done["credit_note"].startswith("CN-")
        assert [e["event"] for e in done["events"]] == ["requested", "approved", "received", "refunded", "closed"]
        stock = (await stack.http.get(f"/v1/inventory/MAIN/{tee}")).json()
        assert (stock["on_hand"], stock["reserved"]) == (4, 0)  # 5 - 2 shipped + 1 restocked
        assert (await stack.http.get(f"/v1/inventory/MAIN/{cap}")).json()["on_hand"] == 4
        ledger = (await stack.http.get(f"/v1/products/{tee}/ledger")).json()
        returned = [m for m in ledger["items"] if m["reason"] == f"returned ({return_id})"]
        assert [(m["kind"], m["on_hand_change"], m["reference"]) for m in returned] == [
            ("receipt", 1, f"{return_id}:RCV-1")
        ]

        listed = (await stack.http.get("/v1/returns", params={"order_id": order_id})).json()["returns"]
        assert [(r["return_id"], r["status"]) for r in listed] == [(return_id, "closed")]

        order = (await stack.http.get(f"/v1/orders/{order_id}")).json()
        [on_order] = order["returns"]
        assert (on_order["return_id"], on_order["status"], on_order["credit_note"]) == (
            return_id,
            "closed",
            done["credit_note"],
        )
        assert on_order["refunded"] == {"amount": "20.00", "currency": "CNY"}
        assert sorted((r["sku"], r["disposition"]) for r in on_order["received"]) == sorted(
            [(tee, "restock"), (tee, "damaged"), (cap, "missing")]
        )
        events = [e["event"] for e in order["timeline"]]
        assert events[-5:] == [
            "return_requested",
            "return_approved",
            "return_received",
            "return_refunded",
            "return_closed",
        ]
        assert events.index("return_requested") > events.index("invoiced")


async def test_a_declined_return_frees_its_units_for_another_request(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        tee = unique("TEE")
        await stock_up(stack.sessions, {tee: 5})
        order_id = await shipped_order(stack, {tee: 1})
        return_id = (
            await stack.http.post(f"/v1/orders/{order_id}/returns", json={"lines": [{"sku": tee, "quantity": 1}]})
        ).json()["return_id"]
        declined = await stack.http.post(f"/v1/returns/{return_id}/decline", json={"note": "worn"})
        assert declined.status_code == 200 and declined.json()["status"] == "declined"
        late = await stack.http.post(
            f"/v1/returns/{return_id}/receive",
            json={"report_id": "R1", "lines": [{"sku": tee, "quantity": 1, "disposition": "restock"}]},
        )
        assert late.status_code == 409
        await until_return(stack, return_id, "declined")
        again = await stack.http.post(f"/v1/orders/{order_id}/returns", json={"lines": [{"sku": tee, "quantity": 1}]})
        assert again.status_code == 201
        unshipped = await stack.http.post(
            f"/v1/orders/{order_id}/returns", json={"lines": [{"sku": unique("HAT"), "quantity": 1}]}
        )
        assert unshipped.status_code == 422 and "has not shipped" in unshipped.json()["detail"]


async def test_a_refund_beyond_what_was_invoiced_is_refused(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        tee = unique("TEE")
        await stock_up(stack.sessions, {tee: 5})
        order_id = await shipped_order(stack, {tee: 2})
        billing = ReturnActivities(stack.sessions)
        with pytest.raises(ApplicationError, match="beyond what was invoiced") as refused:
            await billing.refund_return(RefundReturn("RMA-NONE", order_id, "CNY", [StockLine(tee, 3)]))
        assert refused.value.type == "RefundRefused" and refused.value.non_retryable


async def test_an_edit_and_a_return_racing_on_one_order_leave_it_consistent(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    import asyncio

    policies = {"channel_policies": {"b2b": {"allow_partial_shipment": True}}}
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO, **policies) as stack:
        tee, cap = unique("TEE"), unique("CAP")
        await stock_up(stack.sessions, {tee: 3, cap: 0})
        order_id = (await stack.http.post("/v1/orders", json=order_body({tee: 3, cap: 2}, channel="b2b"))).json()[
            "order_id"
        ]
        await stack.until(order_id, lambda v: v["fulfilments"] and v["fulfilments"][0]["invoice"])

        returned, edited, refused = await asyncio.gather(
            stack.http.post(f"/v1/orders/{order_id}/returns", json={"lines": [{"sku": tee, "quantity": 3}]}),
            stack.http.post(f"/v1/orders/{order_id}/edits", json={"lines": [{"sku": cap, "quantity": 1}]}),
            stack.http.post(f"/v1/orders/{order_id}/edits", json={"lines": [{"sku": tee, "quantity": 4}]}),
        )
        assert returned.status_code == 201, returned.text
        assert edited.status_code == 200, edited.text
        assert refused.status_code == 409 and "has been shipped" in refused.json()["detail"]

        view = (await stack.http.get(f"/v1/orders/{order_id}")).json()
        assert [(line["sku"], line["quantity"], line["shipped"]) for line in view["lines"]] == [
            (tee, 3, 3),
            (cap, 1, 0),
        ]
        assert view["backordered"] == [{"sku": cap, "quantity": 1}] and view["total"]["amount"] == "40.00"

        return_id = returned.json()["return_id"]
        assert (await stack.http.post(f"/v1/returns/{return_id}/approve")).status_code == 200
        report = {"report_id": "R1", "lines": [{"sku": tee, "quantity": 3, "disposition": "restock"}]}
        assert (await stack.http.post(f"/v1/returns/{return_id}/receive", json=report)).status_code == 200
        done = await until_return(stack, return_id, "closed")
        assert done["refunded"]["amount"] == "30.00"
        stock = (await stack.http.get(f"/v1/inventory/MAIN/{tee}")).json()
        assert (stock["on_hand"], stock["reserved"]) == (3, 0)
        # The backordered cap still waits: the return did not touch it.
        assert (await stack.http.get(f"/v1/orders/{order_id}")).json()["backordered"] == [{"sku": cap, "quantity": 1}]


async def test_the_readme_tour_customer_changes_their_mind(stack_factory: StackFactory, sqlite_url: str) -> None:
    """README "Customer changes their mind", step by step (with this test's own SKUs)."""
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO, auto_pick_delay_seconds=0.5) as stack:
        tee, mug = unique("TEE"), unique("MUG")
        await stock_up(stack.sessions, {tee: 100, mug: 50})
        body = order_body({tee: 60})
        body["lines"][0]["unit_price"] = "880.00"
        order_id = (await stack.http.post("/v1/orders", json=body)).json()["order_id"]
        await stack.wait_for_status(order_id, "awaiting_approval")

        change = {"lines": [{"sku": tee, "quantity": 50}, {"sku": mug, "quantity": 2, "unit_price": "29.90"}]}
        preview = (await stack.http.post(f"/v1/orders/{order_id}/edits", json={**change, "preview": True})).json()
        assert (preview["total"]["amount"], preview["difference"]["amount"]) == ("44059.80", "-8740.20")
        assert [line["quantity"] for line in preview["to_reserve"]] == [50, 2]
        edited = await stack.http.post(f"/v1/orders/{order_id}/edits", json={**change, "reason": "customer called"})
        assert edited.status_code == 200 and edited.json()["total"]["amount"] == "44059.80"
        assert (await stack.http.post(f"/v1/orders/{order_id}/approve")).status_code == 200
        done = await stack.wait_for_status(order_id, "completed")
        assert [f["invoice"]["amount"]["amount"] for f in done["fulfilments"]] == ["44059.80"]

        asked = await stack.http.post(
            f"/v1/orders/{order_id}/returns",
            json={"lines": [{"sku": tee, "quantity": 5, "reason": "too big"}], "note": "customer changed their mind"},
        )
        return_id = asked.json()["return_id"]
        assert (await stack.http.post(f"/v1/returns/{return_id}/approve")).json()["status"] == "approved"
        report = {
            "report_id": "RCV-100",
            "lines": [
                {"sku": tee, "quantity": 4, "disposition": "restock"},
                {"sku": tee, "quantity": 1, "disposition": "damaged"},
            ],
        }
        assert (await stack.http.post(f"/v1/returns/{return_id}/receive", json=report)).status_code == 200
        closed = await until_return(stack, return_id, "closed")
        assert closed["refunded"]["amount"] == "4400.00"
        assert (await stack.http.get(f"/v1/inventory/MAIN/{tee}")).json()["on_hand"] == 54
        order = (await stack.http.get(f"/v1/orders/{order_id}")).json()
        assert [(r["return_id"], r["status"]) for r in order["returns"]] == [(return_id, "closed")]
        events = [t["event"] for t in order["timeline"]]
        assert events.index("return_requested") < events.index("return_closed")
