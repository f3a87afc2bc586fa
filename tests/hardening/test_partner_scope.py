"""Partner keys are bound to their partner: a warehouse's key confirms that warehouse's pick lists only."""

import httpx

from domain.access import Role
from domain.deliveries import PartnerKind
from store import catalog, partners
from tests.conftest import StackFactory, bearer, make_key, order_body, stock_up, unique


async def test_a_partner_key_cannot_touch_another_warehouses_pick_list(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url) as stack:
        other = unique("WH")[:16]
        other_partner = unique("wms").lower()
        async with stack.sessions.begin() as s:
            await catalog.ensure_warehouse(s, other, "Another warehouse")
            await partners.create(s, other_partner, "Other WMS", PartnerKind.WAREHOUSE, [other], None)
        others_key = bearer(await make_key(stack.sessions, Role.PARTNER, partner_id=other_partner))

        sku = unique("PS")
        await stock_up(stack.sessions, {sku: 3})
        order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 1}))).json()["order_id"]
        view = await stack.wait_for_status(order_id, "picking")
        pick_list = view["fulfilments"][0]["pick_list_id"]
        assert view["fulfilments"][0]["warehouse"] == stack.settings.default_warehouse

        refused = await stack.http.post(f"/v1/pick-lists/{pick_list}/confirm", headers=others_key)
        assert refused.status_code == 404  # as for a pick list that does not exist: nothing is confirmed
        assert (await stack.http.get(f"/v1/orders/{order_id}")).json()["status"] == "picking"

        own = await stack.http.post(f"/v1/pick-lists/{pick_list}/confirm", headers=stack.as_role(Role.PARTNER))
        assert own.status_code == 202, own.text
        await stack.wait_for_status(order_id, "shipped", "completed")


async def test_partner_keys_need_an_existing_partner(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url) as stack:
        http: httpx.AsyncClient = stack.http
        unbound = await http.post("/v1/api-keys", json={"name": "wms-x", "role": "partner"})
        assert unbound.status_code == 422 and unbound.json()["errors"][0]["field"] == "partner_id"
        missing = await http.post("/v1/api-keys", json={"name": "wms-x", "role": "partner", "partner_id": "nobody"})
        assert missing.status_code == 422 and "does not exist" in missing.json()["errors"][0]["message"]
        stray = await http.post("/v1/api-keys", json={"name": "ops-x", "role": "handler", "partner_id": "nobody"})
        assert stray.status_code == 422
