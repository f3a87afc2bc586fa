"""Business rules end to end: the real API, a worker and a Temporal dev server, rules saved, activated
and fired on the next order. Every rule here names the test's own SKUs, so it never touches another
test's orders on the shared database."""

from datetime import datetime, timedelta
from typing import Any

from config import WarehouseMode
from tests.conftest import Stack, StackFactory, order_body, stock_up, unique


def on(sku: str) -> str:
    return f'order.lines.exists(l, l.sku == "{sku}")'


async def save(stack: Stack, status: str = "active", **rule: Any) -> dict[str, Any]:
    created = await stack.http.post("/v1/rules", json={"name": unique("rule"), **rule, "status": status})
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def submit(stack: Stack, lines: dict[str, int], **extra: Any) -> str:
    created = await stack.http.post("/v1/orders", json=order_body(lines, **extra))
    assert created.status_code == 201, created.text
    order_id: str = created.json()["order_id"]
    return order_id


def gift_lines(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [line for line in view["lines"] if line["gift"]]


def invoiced(view: dict[str, Any]) -> str:
    return str(sum(float(f["invoice"]["amount"]["amount"]) for f in view["fulfilments"] if f["invoice"]))


async def test_a_gift_rule_ships_the_gift_and_invoices_it_at_zero(
    stack_factory: StackFactory, database_url: str
) -> None:
    async with stack_factory(database_url, mode=WarehouseMode.AUTO) as stack:
        tea, mug = unique("TEA"), unique("MUG")
        await stock_up(stack.sessions, {tea: 10, mug: 5})
        rule = await save(
            stack,
            name="Web gift over 15",
            when=f'{on(tea)} && order.channel == "web" && order.total > 15.0',
            then=[{"type": "add_gift", "sku": mug, "quantity": 1}],
        )
        big, small = await submit(stack, {tea: 2}), await submit(stack, {tea: 1})
        view = await stack.wait_for_status(big, "completed")
        other = await stack.wait_for_status(small, "completed")

        [gift] = gift_lines(view)
        assert (gift["sku"], gift["quantity"], gift["unit_price"]["amount"]) == (mug, 1, "0.00")
        assert (gift["allocated"], gift["shipped"], gift["invoiced"]) == (1, 1, 1)
        assert invoiced(view) == "20.0" and view["total"]["amount"] == "20.00"
        ref = f"{rule['rule_id']}@1"
        assert view["rules"] == [
            {"rule": ref, "name": "Web gift over 15", "did": [f"added {mug} x 1"], "overridden": []}
        ]
        note = next(t for t in view["timeline"] if t["event"] == "rules")
        assert note["detail"] == f"rule {rule['rule_id']} v1 'Web gift over 15' added {mug} x 1"
        assert not gift_lines(other) and other["rules"] == []

        stock = (await stack.http.get(f"/v1/inventory/MAIN/{mug}")).json()
        assert (stock["on_hand"], stock["reserved"]) == (4, 0)
        firings = (await stack.http.get(f"/v1/rules/{rule['rule_id']}/firings")).json()["items"]
        assert [(f["order_id"], f["rule"]) for f in firings] == [(big, ref)]
        # The read model tells the same as the workflow.
        async with stack.sessions() as s:
            from api.readmodel import order_from_read_model

            recorded = await order_from_read_model(s, big)
        assert recorded is not None and [r.rule for r in recorded.rules] == [ref]
        assert [line.sku for line in recorded.lines if line.gift] == [mug]


async def test_a_gift_out_of_stock_is_left_out_unless_the_rule_requires_it(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO, backorder_window_hours=1) as stack:
        tea, mug, pen = unique("TEA"), unique("MUG"), unique("PEN")
        await stock_up(stack.sessions, {tea: 10, mug: 0, pen: 0})
        await save(stack, when=on(tea), then=[{"type": "add_gift", "sku": mug}])
        order_id = await submit(stack, {tea: 1})
        view = await stack.wait_for_status(order_id, "completed")
        assert f"1 x {mug} not in stock: going on without it" in view["allocation_reason"]
        assert [f["lines"] for f in view["fulfilments"]] == [[{"sku": tea, "quantity": 1}]]

        await save(stack, when=on(pen), then=[{"type": "add_gift", "sku": mug, "required": True}])
        waiting = await submit(stack, {pen: 1})
        view = await stack.wait_for_status(waiting, "backordered")
        assert {line["sku"] for line in view["backordered"]} == {pen, mug}


async def test_a_rule_requires_approval(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        tv = unique("TV")
        await stock_up(stack.sessions, {tv: 5})
        await save(
            stack,
            name="First-time customer over 15",
            when=f"{on(tv)} && customer.first_order && order.total > 15.0",
            then=[{"type": "require_approval", "reason": "first order over 15"}],
        )
        customer = {"id": unique("C"), "name": "New Customer", "email": "new@example.com"}
        order_id = await submit(stack, {tv: 2}, customer=customer)
        view = await stack.wait_for_status(order_id, "awaiting_approval")
        requested = next(t for t in view["timeline"] if t["event"] == "approval_requested")
        assert requested["detail"].startswith("first order over 15 (rule ")
        assert (await stack.http.post(f"/v1/orders/{order_id}/approve", json={"note": "ok"})).status_code == 200
        await stack.wait_for_status(order_id, "completed")
        # The same customer again: no longer a first order.
        again = await submit(stack, {tv: 2}, customer=customer)
        assert (await stack.wait_for_status(again, "completed"))["rules"] == []


async def test_a_route_rule_ships_from_its_warehouse(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        sku, shenzhen = unique("LAMP"), unique("SZ")[:12]
        await stock_up(stack.sessions, {sku: 5})
        await stock_up(stack.sessions, {sku: 5}, warehouse=shenzhen)
        await save(
            stack,
            name="Guangdong ships from Shenzhen",
            when=f'{on(sku)} && order.ship_to.region == "Guangdong"',
            then=[{"type": "route", "warehouses": [shenzhen], "mode": "only"}],
        )
        guangzhou = {**order_body({})["ship_to"], "city": "Guangzhou", "region": "Guangdong"}
        routed = await submit(stack, {sku: 1}, ship_to=guangzhou)
        plain = await submit(stack, {sku: 1})
        assert [f["warehouse"] for f in (await stack.wait_for_status(routed, "completed"))["fulfilments"]] == [shenzhen]
        assert [f["warehouse"] for f in (await stack.wait_for_status(plain, "completed"))["fulfilments"]] == ["MAIN"]


async def test_priority_promise_and_tags_with_the_first_rule_winning(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.MANUAL) as stack:
        sku = unique("SILK")
        await stock_up(stack.sessions, {sku: 5})
        vip = await save(
            stack,
            name="VIP is rush",
            when=f'{on(sku)} && customer.id.startsWith("VIP-")',
            then=[{"type": "set_priority", "priority": "rush"}, {"type": "set_ship_by", "hours": 6}],
            priority=10,
        )
        slow = await save(
            stack,
            when=on(sku),
            then=[{"type": "set_priority", "priority": "standard"}, {"type": "tag", "tags": ["silk"]}],
            priority=20,
        )
        customer = {"id": unique("VIP"), "name": "Wang Fang", "email": "wang@example.com"}
        order_id = await submit(stack, {sku: 1}, customer=customer)
        view = await stack.wait_for_status(order_id, "picking")
        assert view["priority"] == "rush" and view["tags"] == ["silk"]
        received = datetime.fromisoformat(view["timeline"][0]["at"])
        assert abs(datetime.fromisoformat(view["ship_by"]) - received - timedelta(hours=6)) < timedelta(seconds=5)
        by_rule = {r["rule"]: r for r in view["rules"]}
        assert by_rule[f"{slow['rule_id']}@1"]["overridden"] == [f"set_priority overridden by {vip['rule_id']}@1"]
        assert by_rule[f"{slow['rule_id']}@1"]["did"] == ["tagged silk"]
        await stack.http.post(f"/v1/orders/{order_id}/cancel", json={"reason": "test done"})


async def test_an_exclusive_rule_stops_the_rules_after_it(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url) as stack:
        sku = unique("JADE")
        await stock_up(stack.sessions, {sku: 5})
        first = await save(stack, when=on(sku), then=[{"type": "tag", "tags": ["first"]}], priority=1, exclusive=True)
        await save(stack, when=on(sku), then=[{"type": "tag", "tags": ["second"]}], priority=2)
        tried = (await stack.http.post("/v1/rules/test", json={"order": order_body({sku: 1})})).json()
        assert [f["rule"] for f in tried["fired"]] == [f"{first['rule_id']}@1"] and tried["tags"] == ["first"]
        await stack.http.post(f"/v1/rules/{first['rule_id']}/archive")
        tried = (await stack.http.post("/v1/rules/test", json={"order": order_body({sku: 1})})).json()
        assert tried["tags"] == ["second"]


async def test_a_rule_changed_while_an_order_is_in_flight_leaves_that_order_alone(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.MANUAL) as stack:
        tea, mug = unique("TEA"), unique("MUG")
        await stock_up(stack.sessions, {tea: 10, mug: 10})
        rule = await save(stack, when=on(tea), then=[{"type": "add_gift", "sku": mug, "quantity": 2}])
        rule_id = rule["rule_id"]
        first = await submit(stack, {tea: 1})
        in_flight = await stack.wait_for_status(first, "picking")

        changed = {"name": "smaller gift", "when": on(tea), "then": [{"type": "tag", "tags": ["v2"]}]}
        saved = await stack.http.put(f"/v1/rules/{rule_id}", json=changed)
        assert saved.status_code == 200 and saved.json()["status"] == "draft" and saved.json()["version"] == 2
        still_v1 = await submit(stack, {tea: 1})  # a saved draft does not run
        activated = await stack.http.post(f"/v1/rules/{rule_id}/activate", json={"version": 2})
        assert activated.json()["status"] == "active"
        second = await submit(stack, {tea: 1})

        pick_list = in_flight["fulfilments"][0]["pick_list_id"]
        assert (await stack.http.post(f"/v1/pick-lists/{pick_list}/confirm")).status_code == 202
        done = await stack.wait_for_status(first, "completed")
        assert [r["rule"] for r in done["rules"]] == [f"{rule_id}@1"]
        assert [(g["sku"], g["shipped"]) for g in gift_lines(done)] == [(mug, 2)]
        assert [r["rule"] for r in (await stack.wait_for_status(still_v1, "picking"))["rules"]] == [f"{rule_id}@1"]
        later = await stack.wait_for_status(second, "picking")
        assert [r["rule"] for r in later["rules"]] == [f"{rule_id}@2"] and not gift_lines(later)

        # Rolling back is activating the older version.
        await stack.http.post(f"/v1/rules/{rule_id}/activate", json={"version": 1})
        rolled = await stack.wait_for_status(await submit(stack, {tea: 1}), "picking")
        assert [r["rule"] for r in rolled["rules"]] == [f"{rule_id}@1"]
        versions = (await stack.http.get(f"/v1/rules/{rule_id}/versions")).json()
        assert [(v["version"], v["status"]) for v in versions] == [(2, "draft"), (1, "active")]
        for order_id in (still_v1, second, rolled["order_id"]):
            await stack.http.post(f"/v1/orders/{order_id}/cancel", json={"reason": "test done"})


async def test_a_draft_never_fires(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        sku = unique("INK")
        await stock_up(stack.sessions, {sku: 5})
        draft = await save(stack, status="draft", when=on(sku), then=[{"type": "hold", "reason": "never"}])
        assert draft["status"] == "draft"
        view = await stack.wait_for_status(await submit(stack, {sku: 1}), "completed")
        assert view["rules"] == [] and view["hold"] is None
        assert (await stack.http.get(f"/v1/rules/{draft['rule_id']}/firings")).json()["items"] == []


async def test_bad_rules_are_refused_with_the_field_and_position(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url) as stack:
        tag = [{"type": "tag", "tags": ["x"]}]
        cases: list[tuple[dict[str, Any], str, str]] = [
            ({"when": "order.total >", "then": tag}, "when", "syntax error at position 13 (line 1, column 14)"),
            ({"when": "order.totl > 3.0", "then": tag}, "when", "unknown_field error at position 6"),
            ({"when": 'order.total > "x"', "then": tag}, "when", "type error at position 0"),
            (
                {"when": "order.lines.exists(a, order.lines.all(b, b.quantity > a.quantity))", "then": tag},
                "when",
                "cost error at position 34",
            ),
            (
                {"when": "true", "then": [{"type": "add_gift", "sku": "NO-SUCH-SKU"}]},
                "then[0].sku",
                "not in the catalog",
            ),
            (
                {"when": "true", "then": [{"type": "route", "warehouses": ["NOWHERE"]}]},
                "then[0].warehouses[0]",
                "no warehouse NOWHERE",
            ),
            (
                {"when": "true", "then": [{"type": "route", "warehouses": ["WH\u0000A"]}]},
                "then[0].route",
                "warehouses: must not contain NUL characters",
            ),
        ]
        before = (await stack.http.get("/v1/rules", params={"limit": 200})).json()["items"]
        for body, field, message in cases:
            refused = await stack.http.post("/v1/rules", json={"name": "bad", **body})
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            [error] = refused.json()["errors"]
            assert error["field"] == field and message in error["message"], error
        unknown = await stack.http.post(
            "/v1/rules", json={"name": "bad", "when": "true", "then": [{"type": "explode"}]}
        )
        assert unknown.status_code == 422
        assert (await stack.http.get("/v1/rules", params={"limit": 200})).json()["items"] == before


async def test_simulate_a_draft_over_recent_orders_and_events_on_activation(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        tea, mug = unique("TEA"), unique("MUG")
        await stock_up(stack.sessions, {tea: 20, mug: 1})
        rush = await save(stack, when=on(tea), then=[{"type": "set_priority", "priority": "rush"}], priority=5)
        orders = [await submit(stack, {tea: n}) for n in (1, 2, 3)]
        for order_id in orders:
            await stack.wait_for_status(order_id, "completed")
        draft = {
            "name": "try a gift",
            "when": f"{on(tea)} && order.total > 15.0",
            "then": [{"type": "add_gift", "sku": mug, "quantity": 1}, {"type": "set_priority", "priority": "standard"}],
            "priority": 50,
        }
        result = (await stack.http.post("/v1/rules/simulate", json={"rule": draft, "last": 50})).json()
        assert result["matched"] == 2 and set(result["examples"]) == set(orders[1:])
        assert result["gifts"] == [{"sku": mug, "units": 2, "available": 1}]
        assert result["actions"] == {"add_gift": 2}
        assert result["overridden_by"] == {f"{rush['rule_id']}@1": 2} and result["overrides"] == {}

        saved = await save(stack, status="draft", **draft)
        await stack.http.post(f"/v1/rules/{saved['rule_id']}/activate")
        await stack.http.post(f"/v1/rules/{saved['rule_id']}/archive")
        kinds = []
        for kind in ("rule.activated", "rule.archived"):
            items = (await stack.http.get("/v1/events", params={"type": kind})).json()["items"]
            kinds += [(e["type"], e["data"]["version"]) for e in items if e["data"]["rule_id"] == saved["rule_id"]]
        assert kinds == [("rule.activated", 1), ("rule.archived", 1)]
        audit = (await stack.http.get("/v1/audit", params={"limit": 50})).json()["items"]
        assert any(a["path"] == f"/v1/rules/{saved['rule_id']}/activate" for a in audit)


async def test_imported_orders_get_the_rules_too(stack_factory: StackFactory, sqlite_url: str) -> None:
    import io

    from tests.unit.test_importing import as_csv, line

    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        tea, mug = unique("TEA"), unique("MUG")
        await stock_up(stack.sessions, {tea: 10, mug: 10})
        rule = await save(
            stack, when=on(tea), then=[{"type": "add_gift", "sku": mug}, {"type": "tag", "tags": ["imp"]}]
        )
        external_id = unique("IMP")
        sheet = {"file": ("orders.csv", io.BytesIO(as_csv([line(external_id, tea, "2")])))}
        imported = await stack.http.post("/v1/orders/import", files=sheet, params={"wait": 20})
        assert imported.status_code == 200 and imported.json()["progress"]["created"] == 1, imported.text
        view = await stack.wait_for_status(f"web-{external_id}", "completed")
        assert [g["sku"] for g in gift_lines(view)] == [mug] and view["tags"] == ["imp"]
        assert [r["rule"] for r in view["rules"]] == [f"{rule['rule_id']}@1"]
