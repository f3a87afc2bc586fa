"""Business rules evaluated again after an edit, through the real API and workflow: a gift follows the
total while nothing is picked; a rule that newly fires tags and holds the order."""

from config import WarehouseMode
from tests.conftest import StackFactory, order_body, stock_up, unique
from tests.integration.test_after_the_order import pick_all, stock_of
from tests.integration.test_rules import gift_lines, on, save


async def test_an_edit_withdraws_a_gift_then_brings_it_back_with_a_new_hold_and_tag(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.MANUAL) as stack:
        tea, mug = unique("TEA"), unique("MUG")
        await stock_up(stack.sessions, {tea: 10, mug: 5})
        await save(
            stack,
            name="Gift over 15",
            when=f"{on(tea)} && order.total > 15.0",
            then=[{"type": "add_gift", "sku": mug, "quantity": 1}],
        )
        big = await save(
            stack,
            name="Large tea order",
            when=f"{on(tea)} && order.total > 45.0",
            then=[
                {"type": "tag", "tags": ["large"]},
                {"type": "hold", "reason": "check large order"},
                {"type": "set_priority", "priority": "rush"},
            ],
        )
        order_id = (await stack.http.post("/v1/orders", json=order_body({tea: 2}))).json()["order_id"]
        view = await stack.until(order_id, lambda v: v["fulfilments"] and v["fulfilments"][0]["pick_list_id"])
        assert [g["sku"] for g in gift_lines(view)] == [mug]
        assert await stock_of(stack, "MAIN", mug) == (5, 1)

        smaller = {"lines": [{"sku": tea, "quantity": 1}], "reason": "customer called"}
        preview = (await stack.http.post(f"/v1/orders/{order_id}/edits", json={**smaller, "preview": True})).json()
        assert [line["sku"] for line in preview["lines"]] == [tea]
        assert preview["rules"] == f"after the edit: gift {mug} withdrawn"
        edited = await stack.http.post(f"/v1/orders/{order_id}/edits", json=smaller)
        assert edited.status_code == 200, edited.text
        assert not gift_lines(edited.json()) and edited.json()["total"]["amount"] == "10.00"
        view = await stack.until(order_id, lambda v: any(f["pick_list_id"] for f in v["fulfilments"][1:]))
        assert await stock_of(stack, "MAIN", mug) == (5, 0)  # the gift's reservation went back
        assert [t["detail"] for t in view["timeline"] if t["event"] == "rules"][-1] == (
            f"after the edit: gift {mug} withdrawn"
        )

        larger = {"lines": [{"sku": tea, "quantity": 5}], "reason": "customer called again"}
        edited = await stack.http.post(f"/v1/orders/{order_id}/edits", json=larger)
        assert edited.status_code == 200, edited.text
        view = edited.json()
        assert [(g["sku"], g["quantity"], g["unit_price"]["amount"]) for g in gift_lines(view)] == [(mug, 1, "0.00")]
        assert view["hold"]["reason"] == "check large order (after an edit)" and view["status"] == "on_hold"
        assert view["tags"] == ["large"] and view["priority"] == "standard"  # priority is not a rule's after start
        [firing] = [f for f in view["rules"] if f["rule"] == f"{big['rule_id']}@1"]
        assert firing["did"] == ["tagged large", "held: check large order"]
        assert firing["overridden"] == ["set_priority not applied after submission"]

        assert (await stack.http.post(f"/v1/orders/{order_id}/release", json={"note": "fine"})).status_code == 200
        again = await stack.http.post(f"/v1/orders/{order_id}/edits", json={"lines": [{"sku": tea, "quantity": 6}]})
        assert again.status_code == 200 and again.json()["hold"] is None  # a released rule's hold is not put back

        await stack.until(order_id, lambda v: all(f["pick_list_id"] for f in v["fulfilments"] if not f["cancelled"]))
        await pick_all(stack, order_id)
        done = await stack.wait_for_status(order_id, "completed")
        invoiced = [f["invoice"]["amount"]["amount"] for f in done["fulfilments"] if f["invoice"]]
        assert invoiced == ["60.00"]
        assert [(line["sku"], line["shipped"]) for line in done["lines"]] == [(tea, 6), (mug, 1)]
        assert await stock_of(stack, "MAIN", mug) == (4, 0)
