"""The warehouse reports a return's arrival as a signed partner callback: the same receive as the API."""

from config import WarehouseMode
from domain.access import Role
from tests.conftest import StackFactory, bearer, make_key, stock_up, unique
from tests.integration.test_callbacks import event, partner, send
from tests.integration.test_returns import shipped_order, until_return


async def test_a_warehouse_partner_reports_a_return_once_into_its_own_warehouse(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        tee, cap = unique("TEE"), unique("CAP")
        await stock_up(stack.sessions, {tee: 5, cap: 5})
        order_id = await shipped_order(stack, {tee: 2, cap: 1})
        return_id = (
            await stack.http.post(
                f"/v1/orders/{order_id}/returns",
                json={"lines": [{"sku": tee, "quantity": 2}, {"sku": cap, "quantity": 1}]},
            )
        ).json()["return_id"]
        main, main_secret = await partner(stack, "warehouse", warehouses=["MAIN"])
        east = {"name": "East", "country": "CN"}
        assert (await stack.http.put("/v1/warehouses/EAST", json=east)).status_code in (200, 201)
        other, other_secret = await partner(stack, "warehouse", warehouses=["EAST"])
        carrier, carrier_secret = await partner(stack, "carrier", carrier=stack.settings.carrier_name)
        lines = [
            {"sku": tee, "quantity": 2, "disposition": "restock"},
            {"sku": cap, "quantity": 1, "disposition": "damaged"},
        ]
        arrived = event("return.received", return_id=return_id, warehouse="MAIN", lines=lines)

        early = await send(stack, main, main_secret, arrived)  # not approved yet: refused, not recorded
        assert early.status_code == 409 and "only an approved return" in early.json()["detail"]
        assert (await stack.http.post(f"/v1/returns/{return_id}/approve")).status_code == 200

        elsewhere = {**arrived, "data": {**arrived["data"], "warehouse": "EAST"}}
        assert (await send(stack, main, main_secret, elsewhere)).status_code == 404  # not MAIN's partner's to restock
        # EAST's partner speaks for EAST, but the order never shipped from there.
        assert (await send(stack, other, other_secret, elsewhere)).status_code == 404
        not_its = await send(stack, other, other_secret, arrived)
        assert not_its.status_code == 404
        assert (await send(stack, carrier, carrier_secret, arrived)).status_code == 404
        unknown = event("return.received", return_id="RMA-NOSUCH", warehouse="MAIN", lines=lines)
        assert (await send(stack, main, main_secret, unknown)).status_code == 404
        bad = await send(stack, main, main_secret, event("return.received", return_id=return_id, warehouse="MAIN"))
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "data.lines"

        accepted = await send(stack, main, main_secret, arrived)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json() == {
            "event_id": arrived["id"],
            "type": "return.received",
            "order_id": order_id,
            "replayed": False,
        }
        assert (await send(stack, main, main_secret, arrived)).json()["replayed"] is True

        done = await until_return(stack, return_id, "closed")
        received = next(e for e in done["events"] if e["event"] == "received")
        assert received["actor"] == f"partner:{main}"
        assert done["refunded"]["amount"] == "30.00"  # two tees at 10.00 and the damaged cap at 10.00
        stock = (await stack.http.get(f"/v1/inventory/MAIN/{tee}")).json()
        assert stock["on_hand"] == 5  # 5 - 2 shipped + 2 restocked, once
        assert (await stack.http.get(f"/v1/inventory/MAIN/{cap}")).json()["on_hand"] == 4
        ledger = (await stack.http.get(f"/v1/products/{tee}/ledger")).json()["items"]
        assert [m["reference"] for m in ledger if m["reason"] == f"returned ({return_id})"] == [
            f"{return_id}:{arrived['id']}"
        ]


async def test_a_partner_key_receives_only_returns_of_its_own_warehouses(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        tee = unique("TEE")
        await stock_up(stack.sessions, {tee: 5})
        order_id = await shipped_order(stack, {tee: 1})
        return_id = (
            await stack.http.post(f"/v1/orders/{order_id}/returns", json={"lines": [{"sku": tee, "quantity": 1}]})
        ).json()["return_id"]
        assert (await stack.http.post(f"/v1/returns/{return_id}/approve")).status_code == 200
        main, _ = await partner(stack, "warehouse", warehouses=["MAIN"])
        other = unique("WH")[:16]
        assert (await stack.http.put(f"/v1/warehouses/{other}", json={"name": "Other", "country": "CN"})).is_success
        elsewhere, _ = await partner(stack, "warehouse", warehouses=[other])
        main_key = bearer(await make_key(stack.sessions, Role.PARTNER, partner_id=main))
        other_key = bearer(await make_key(stack.sessions, Role.PARTNER, partner_id=elsewhere))
        report = {"report_id": "R1", "lines": [{"sku": tee, "quantity": 1, "disposition": "restock"}]}

        for key, warehouse in ((other_key, other), (other_key, "MAIN"), (main_key, other)):
            refused = await stack.http.post(
                f"/v1/returns/{return_id}/receive", json={**report, "warehouse": warehouse}, headers=key
            )
            assert refused.status_code == 404, (warehouse, refused.text)
        received = await stack.http.post(
            f"/v1/returns/{return_id}/receive", json={**report, "warehouse": "MAIN"}, headers=main_key
        )
        assert received.status_code == 200, received.text
        assert (await until_return(stack, return_id, "closed"))["refunded"]["amount"] == "10.00"
        audited = (await stack.http.get("/v1/audit", params={"order_id": order_id})).json()["items"]
        assert [(e["path"], e["status"]) for e in reversed(audited) if "/v1/returns/" in e["path"]] == [
            (f"/v1/returns/{return_id}/approve", 200),
            (f"/v1/returns/{return_id}/receive", 200),
        ]
