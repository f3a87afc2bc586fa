"""Signed partner callbacks through the real API, a Temporal dev server and SQLite."""

import json
import time
from typing import Any

import httpx

from config import WarehouseMode
from domain.signing import SIGNATURE_HEADER, sign
from tests.conftest import Stack, StackFactory, order_body, stock_up, unique


async def send(
    stack: Stack, partner_id: str, secret: str, event: dict[str, Any], at: float | None = None
) -> httpx.Response:
    body = json.dumps(event).encode()
    header = sign(secret, int(at if at is not None else time.time()), body)
    # No API key: the signature is the credential.
    headers = {SIGNATURE_HEADER: header, "Authorization": "", "content-type": "application/json"}
    return await stack.http.post(f"/v1/callbacks/{partner_id}", content=body, headers=headers)


def event(type_: str, **data: Any) -> dict[str, Any]:
    return {"id": unique("EV"), "type": type_, "occurred_at": "2026-11-29T10:00:00+00:00", "data": data}


async def partner(stack: Stack, kind: str, **scope: Any) -> tuple[str, str]:
    created = await stack.http.post(
        "/v1/partners", json={"partner_id": unique("p").lower(), "name": f"a {kind}", "kind": kind, **scope}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("psec_")
    return body["partner_id"], body["secret"]


async def test_partners_report_pick_handover_and_delivery_once(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.MANUAL) as stack:
        sku = unique("CB")
        await stock_up(stack.sessions, {sku: 10})
        warehouse, warehouse_secret = await partner(stack, "warehouse", warehouses=["MAIN"])
        carrier, carrier_secret = await partner(stack, "carrier", carrier=stack.settings.carrier_name)
        stranger, stranger_secret = await partner(stack, "carrier", carrier="another-post")
        order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 1}))).json()["order_id"]
        view = await stack.wait_for_status(order_id, "picking")
        pick_list_id = view["fulfilments"][0]["pick_list_id"]
        pick = event("pick.confirmed", pick_list_id=pick_list_id, picked_by="ana")

        # Refused alike: a wrong secret, a stale timestamp, a partner that does not exist.
        refusals = [
            await send(stack, warehouse, "psec_not-the-secret", pick),
            await send(stack, warehouse, warehouse_secret, pick, at=time.time() - 301),
            await send(stack, "nobody-here", warehouse_secret, pick),
        ]
        assert [r.status_code for r in refusals] == [401, 401, 401]
        assert (
            len({r.text for r in refusals}) == 1 and refusals[0].headers["content-type"] == "application/problem+json"
        )
        unsigned = await stack.http.post(f"/v1/callbacks/{warehouse}", json=pick)  # an admin key is no signature
        assert unsigned.status_code == 401
        assert (await stack.http.get(f"/v1/orders/{order_id}")).json()["status"] == "picking"  # nothing moved

        other_warehouse = await partner(stack, "warehouse", warehouses=["MAIN"])
        carrier_picking = await send(stack, stranger, stranger_secret, pick)
        assert carrier_picking.status_code == 404  # a carrier confirms no pick lists
        assert (await send(stack, *other_warehouse, event("pick.confirmed", pick_list_id="PL-nope"))).status_code == 404

        confirmed = await send(stack, warehouse, warehouse_secret, pick)
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json() == {
            "event_id": pick["id"],
            "type": "pick.confirmed",
            "order_id": order_id,
            "replayed": False,
        }
        view = await stack.wait_for_status(order_id, "completed")
        assert next(e for e in view["timeline"] if e["event"] == "picked")["actor"] == "ana"
        shipment_id = view["fulfilments"][0]["shipment"]["shipment_id"]

        bad = await send(stack, carrier, carrier_secret, event("shipment.delivery_failed", shipment_id=shipment_id))
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "data.reason"
        foreign = await send(stack, stranger, stranger_secret, event("shipment.delivered", shipment_id=shipment_id))
        assert foreign.status_code == 404  # another carrier's shipment, as if it did not exist

        handed = event("shipment.handed_to_carrier", shipment_id=shipment_id)
        assert (await send(stack, carrier, carrier_secret, handed)).json()["replayed"] is False
        view = await stack.until(order_id, lambda v: v["timeline"][-1]["event"] == "handed_to_carrier")
        assert view["status"] == "completed" and view["fulfilments"][0]["shipment"]["handed_over_at"]
        timeline = len(view["timeline"])

        again = await send(stack, carrier, carrier_secret, handed)
        assert again.status_code == 200 and again.json()["replayed"] is True
        reused = await send(stack, carrier, carrier_secret, {**handed, "occurred_at": "2026-11-29T11:00:00+00:00"})
        assert reused.status_code == 409
        assert len((await stack.http.get(f"/v1/orders/{order_id}")).json()["timeline"]) == timeline

        delivered = event("shipment.delivered", shipment_id=shipment_id, received_by="Li Wei")
        assert (await send(stack, carrier, carrier_secret, delivered)).status_code == 200
        view = await stack.wait_for_status(order_id, "delivered")
        assert view["fulfilments"][0]["shipment"]["received_by"] == "Li Wei"
        assert [e["event"] for e in view["timeline"]][-2:] == ["handed_to_carrier", "delivered"]
        listed = (await stack.http.get("/v1/orders", params={"status": "delivered"})).json()["items"]
        assert order_id in [o["order_id"] for o in listed]  # the read model says so too
        replayed = await send(stack, carrier, carrier_secret, delivered)
        assert replayed.json()["replayed"] is True
        assert len((await stack.http.get(f"/v1/orders/{order_id}")).json()["timeline"]) == timeline + 1

        deactivated = await stack.http.post(f"/v1/partners/{carrier}/deactivate")
        assert deactivated.status_code == 200 and deactivated.json()["active"] is False
        assert (await send(stack, carrier, carrier_secret, handed)).status_code == 401


async def test_a_late_report_for_a_closed_order_is_recorded_and_a_late_failure_refused(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    window_days = 2 / 86400  # two seconds
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO, delivery_window_days=window_days) as stack:
        sku = unique("CB")
        await stock_up(stack.sessions, {sku: 10})
        carrier, secret = await partner(stack, "carrier", carrier=stack.settings.carrier_name)
        rotated = await stack.http.post(f"/v1/partners/{carrier}/rotate-secret", json={"secret": "s" * 40})
        assert rotated.status_code == 200 and rotated.json()["secret"] == "s" * 40
        assert (await stack.http.get(f"/v1/partners/{carrier}")).json()["secret_rotated_at"]
        order_id = (await stack.http.post("/v1/orders", json=order_body({sku: 1}))).json()["order_id"]
        view = await stack.until(order_id, lambda v: v["timeline"][-1]["event"] == "delivery_unconfirmed")
        assert view["status"] == "completed"
        shipment_id = view["fulfilments"][0]["shipment"]["shipment_id"]

        failed = event("shipment.delivery_failed", shipment_id=shipment_id, reason="lost")
        assert (await send(stack, carrier, secret, failed)).status_code == 401  # the old secret
        closed = await send(stack, carrier, "s" * 40, failed)
        assert closed.status_code == 409 and "no longer waits" in closed.json()["detail"]

        delivered = await send(stack, carrier, "s" * 40, event("shipment.delivered", shipment_id=shipment_id))
        assert delivered.status_code == 200, delivered.text
        view = (await stack.http.get(f"/v1/orders/{order_id}")).json()
        assert view["status"] == "delivered" and view["fulfilments"][0]["shipment"]["delivered_at"]
        assert view["timeline"][-1]["event"] == "delivered"
        recorded = (await stack.http.get("/v1/orders", params={"status": "delivered"})).json()["items"]
        assert order_id in [o["order_id"] for o in recorded]


async def test_floods_and_oversized_bodies_are_cut_off_before_the_signature_check(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url, rate_limit_per_second=1, rate_limit_burst=3) as stack:
        carrier, secret = await partner(stack, "carrier", carrier=stack.settings.carrier_name)
        padded = event("shipment.delivered", shipment_id="SH-X", received_by="x" * 70_000)
        assert (await send(stack, carrier, secret, padded)).status_code == 413
        flood = [await stack.http.post(f"/v1/callbacks/{carrier}", json=event("pick.confirmed")) for _ in range(6)]
        codes = [r.status_code for r in flood]
        assert 429 in codes and codes[0] == 401, codes
        assert all(code in (401, 429) for code in codes)
        # An API key's bucket is its own: the admin is not throttled by the flood's address.
        assert (await stack.http.get("/v1/partners")).status_code == 200
