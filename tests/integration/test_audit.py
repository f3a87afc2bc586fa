"""The audit log: every state-changing request, with who, what, when, the request ID and the outcome."""

import uuid

from config import WarehouseMode
from domain.access import Role
from domain.contract import Update, order_workflow_id
from domain.steps import HoldRequest, OrderView
from tests.conftest import StackFactory, bearer, make_key, order_body, stock_up, unique


async def test_writes_are_audited_with_actor_target_request_id_and_outcome(
    stack_factory: StackFactory, database_url: str
) -> None:
    async with stack_factory(database_url, mode=WarehouseMode.MANUAL) as stack:
        sku = unique("AUD")
        await stock_up(stack.sessions, {sku: 5})
        shop_name = unique("shop").lower()
        shop = bearer(await make_key(stack.sessions, Role.CHANNEL, "web", name=shop_name))
        created = await stack.http.post(
            "/v1/orders", json=order_body({sku: 1}), headers={**shop, "X-Request-ID": "req-" + sku}
        )
        assert created.status_code == 201 and created.headers["x-request-id"] == "req-" + sku
        order_id = created.json()["order_id"]
        view = await stack.wait_for_status(order_id, "picking")

        viewer = stack.as_role(Role.VIEWER)
        assert (
            await stack.http.post(f"/v1/orders/{order_id}/hold", json={"reason": "x"}, headers=viewer)
        ).status_code == 403
        ops_name = unique("ops").lower()
        ops = bearer(await make_key(stack.sessions, Role.HANDLER, name=ops_name))
        held = await stack.http.post(f"/v1/orders/{order_id}/hold", json={"reason": "fraud check"}, headers=ops)
        assert held.status_code == 200
        assert held.json()["hold"]["actor"] == f"key:{ops_name}"
        timeline = held.json()["timeline"]
        assert any(t["actor"] == f"key:{ops_name}" for t in timeline), timeline
        pick_list = view["fulfilments"][0]["pick_list_id"]
        confirmed = await stack.http.post(f"/v1/pick-lists/{pick_list}/confirm", headers=stack.as_role(Role.PARTNER))
        assert confirmed.status_code == 202
        await stack.http.get(f"/v1/orders/{order_id}", headers=ops)  # reads are not audited

        entries = (await stack.http.get("/v1/audit", params={"order_id": order_id})).json()["items"]
        summary = [(e["actor"], e["method"], e["path"], e["status"], e["outcome"]) for e in reversed(entries)]
        partner = next(e["actor"] for e in entries if e["role"] == "partner")
        viewer_actor = next(e["actor"] for e in entries if e["role"] == "viewer")
        assert summary == [
            (f"key:{shop_name}", "POST", "/v1/orders", 201, "succeeded"),
            (viewer_actor, "POST", f"/v1/orders/{order_id}/hold", 403, "refused"),
            (f"key:{ops_name}", "POST", f"/v1/orders/{order_id}/hold", 200, "succeeded"),
            (partner, "POST", f"/v1/pick-lists/{pick_list}/confirm", 202, "succeeded"),
        ]
        first = entries[-1]
        assert first["request_id"] == "req-" + sku and first["role"] == "channel" and first["key_id"].startswith("k_")

        by_actor = (await stack.http.get("/v1/audit", params={"actor": ops_name})).json()["items"]
        assert [(e["order_id"], e["status"]) for e in by_actor] == [(order_id, 200)]
        by_key = (await stack.http.get("/v1/audit", params={"key_id": first["key_id"]})).json()["items"]
        assert [e["path"] for e in by_key] == ["/v1/orders"]

        replay_headers = {**ops, "Idempotency-Key": "release-1"}
        for _ in range(2):
            await stack.http.post(f"/v1/orders/{order_id}/release", headers=replay_headers)
        outcomes = (await stack.http.get("/v1/audit", params={"actor": f"key:{ops_name}", "limit": 2})).json()
        assert [e["outcome"] for e in outcomes["items"]] == ["replayed", "succeeded"]
        assert outcomes["next_cursor"] is not None
        older = await stack.http.get("/v1/audit", params={"actor": ops_name, "cursor": outcomes["next_cursor"]})
        assert [e["path"] for e in older.json()["items"]] == [f"/v1/orders/{order_id}/hold"]

        # An update sent straight to the workflow (as `temporal workflow update execute` does) has no key:
        # the order writes its row itself, with the actor it was told, marked as unchecked.
        second = (await stack.http.post("/v1/orders", json=order_body({sku: 1}), headers=shop)).json()["order_id"]
        await stack.wait_for_status(second, "picking")
        handle = stack.client.get_workflow_handle(order_workflow_id(second))
        update_id = str(uuid.uuid4())
        request = HoldRequest("held from the CLI", "mallory")
        await handle.execute_update(Update.HOLD, request, id=update_id, result_type=OrderView)
        entries = (await stack.http.get("/v1/audit", params={"order_id": second, "limit": 1})).json()["items"]
        assert [(e["actor"], e["method"], e["path"], e["status"], e["key_id"], e["request_id"]) for e in entries] == [
            ("temporal:mallory", "UPDATE", "temporal:hold", 200, None, update_id)
        ]
