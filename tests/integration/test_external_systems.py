"""Pick, ship and invoice through an external WMS, TMS and ERP: the real API, dev server and database,
with tests/fakes/external_system.py in its own process on loopback as the outside world."""

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from config import WarehouseMode
from domain.access import Role
from store.tables import Invoice, OrderEvent, Shipment
from tests.conftest import Stack, StackFactory, order_body, stock_up, unique

FAKE = Path(__file__).parents[1] / "fakes" / "external_system.py"
TOKEN = "fake-partner-token-7f3a"


class External:
    """The fake external system: its base URL and its test controls."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.AsyncClient(base_url=base_url, timeout=5)

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Stack settings that point pick, ship and invoice at the fake."""
        return {
            "wms_url": f"{self.base_url}/wms",
            "tms_url": f"{self.base_url}/tms",
            "erp_url": f"{self.base_url}/erp",
            "wms_token": TOKEN,
            "tms_token": TOKEN,
            "erp_token": TOKEN,
            **overrides,
        }

    async def script(self, system: str, order_id: str, **script: Any) -> None:
        response = await self.http.post("/_script", json={"system": system, "order_id": order_id, **script})
        response.raise_for_status()

    async def calls(self, system: str, order_id: str) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = (
            await self.http.get("/_calls", params={"system": system, "order_id": order_id})
        ).json()
        return calls

    async def records(self, system: str) -> dict[str, dict[str, Any]]:
        records: dict[str, dict[str, Any]] = (await self.http.get("/_records", params={"system": system})).json()
        return records

    async def until_called(
        self, system: str, order_id: str, check: Callable[[list[dict[str, Any]]], bool] = bool, within: float = 20
    ) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + within
        while not check(calls := await self.calls(system, order_id)):
            assert asyncio.get_running_loop().time() < deadline, calls
            await asyncio.sleep(0.1)
        return calls


@pytest.fixture(scope="module")
async def external(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[External]:
    """The fake WMS/TMS/ERP as its own process; its output goes to a file next to the port file."""
    folder = tmp_path_factory.mktemp("external")
    port_file = folder / "port"
    with (folder / "output.log").open("w") as output:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, str(FAKE), "--port", "0", "--port-file", str(port_file), "--token", TOKEN),
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        for _ in range(100):
            if port_file.exists() or process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        assert port_file.exists(), (folder / "output.log").read_text()
        fake = External(f"http://127.0.0.1:{port_file.read_text()}")
        yield fake
        await fake.http.aclose()
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=5)


async def count(stack: Stack, table: type[Shipment] | type[Invoice], order_id: str) -> int:
    async with stack.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(table).where(table.order_id == order_id)) or 0)


async def submit(stack: Stack, lines: dict[str, int], **extra: Any) -> tuple[str, dict[str, Any]]:
    body = order_body(lines, **extra)
    created = await stack.http.post("/v1/orders", json=body)
    assert created.status_code == 201, created.text
    return created.json()["order_id"], body


async def test_an_order_is_picked_shipped_and_invoiced_by_the_external_systems(
    stack_factory: StackFactory, database_url: str, external: External
) -> None:
    async with stack_factory(database_url, mode=WarehouseMode.MANUAL, **external.settings()) as stack:
        sku = unique("TEE")
        await stock_up(stack.sessions, {sku: 5})
        order_id, body = await submit(stack, {sku: 2})

        # The WMS received the pick list, and confirms it the way a WMS does: through our callback.
        [pick] = await external.until_called("wms", order_id)
        pick_list_id = pick["body"]["pick_list_id"]
        assert pick["idempotency_key"] == pick_list_id
        assert pick["body"]["lines"] == [{"sku": sku, "quantity": 2}]
        assert pick["body"]["ship_to"]["postal_code"] == body["ship_to"]["postal_code"]
        confirmed = await stack.http.post(
            f"/v1/pick-lists/{pick_list_id}/confirm", json={"confirmed_by": "wms"}, headers=stack.as_role(Role.PARTNER)
        )
        assert confirmed.status_code == 202, confirmed.text

        view = await stack.wait_for_status(order_id, "completed")
        [fulfilment] = view["fulfilments"]
        [ship] = await external.calls("tms", order_id)
        [bill] = await external.calls("erp", order_id)
        booked = (await external.records("tms"))[ship["idempotency_key"]]
        issued = (await external.records("erp"))[bill["idempotency_key"]]
        assert fulfilment["shipment"]["carrier"] == "fake-express"
        assert fulfilment["shipment"]["tracking_number"] == booked["tracking_number"]
        assert fulfilment["invoice"]["number"] == issued["number"]
        assert ship["idempotency_key"] == fulfilment["shipment"]["shipment_id"]
        assert ship["body"]["ship_to"]["city"] == "Shanghai"
        assert (bill["body"]["amount"], bill["body"]["currency"]) == ("20.00", "CNY")
        assert bill["body"]["lines"] == [{"sku": sku, "quantity": 2, "unit_price": "10.00", "total": "20.00"}]
        reference = (await external.records("wms"))[pick_list_id]["reference"]
        async with stack.sessions() as s:
            listed = await s.scalar(
                select(OrderEvent.detail).where(
                    OrderEvent.order_id == order_id, OrderEvent.event == "pick_list_created"
                )
            )
        assert listed == f"{pick_list_id} in MAIN (WMS {reference})"  # the read model's timeline names it
        assert await count(stack, Shipment, order_id) == 1
        assert await count(stack, Invoice, order_id) == 1
        assert view["exceptions"] == []


async def test_a_carrier_timeout_is_retried_and_books_one_shipment(
    stack_factory: StackFactory, sqlite_url: str, external: External
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO, **external.settings(tms_timeout_s=1)) as stack:
        sku = unique("MUG")
        await stock_up(stack.sessions, {sku: 5})
        external_id = unique("WEB")
        order_id = f"web-{external_id}"
        # The TMS books the first call but answers it after our 1 s timeout.
        await external.script("tms", order_id, delay_first=1, delay_s=2.5)
        await submit(stack, {sku: 1}, external_id=external_id)

        view = await stack.wait_for_status(order_id, "completed")
        calls = await external.calls("tms", order_id)
        assert len(calls) == 2  # the timed-out call and its retry
        assert len({c["idempotency_key"] for c in calls}) == 1
        [fulfilment] = view["fulfilments"]
        key = fulfilment["shipment"]["shipment_id"]
        assert calls[0]["idempotency_key"] == key
        shipments = await external.records("tms")
        assert shipments[key]["tracking_number"] == fulfilment["shipment"]["tracking_number"]
        assert [k for k in shipments if k == key] == [key]  # one shipment in the TMS ...
        assert await count(stack, Shipment, order_id) == 1  # ... and one in ours
        assert view["exceptions"] == []


async def test_a_carrier_that_rejects_the_address_opens_an_exception(
    stack_factory: StackFactory, sqlite_url: str, external: External
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO, **external.settings()) as stack:
        sku = unique("LAMP")
        await stock_up(stack.sessions, {sku: 5})
        external_id = unique("WEB")
        order_id = f"web-{external_id}"
        refusal = "we do not deliver to 88 Century Ave: building demolished"
        await external.script("tms", order_id, reject_first=1, status=422, code="address_rejected", message=refusal)
        _, body = await submit(stack, {sku: 1}, external_id=external_id)

        view = await stack.wait_for_status(order_id, "needs_attention")
        [exception] = view["exceptions"]
        assert exception["kind"] == "address_rejected"
        assert refusal in exception["message"]
        assert len(await external.calls("tms", order_id)) == 1  # a business "no" is not retried
        assert await count(stack, Shipment, order_id) == 0

        # A person fixes the address; the same shipment, with the new address, is booked.
        new_address = {**body["ship_to"], "line1": "1 Nanjing Rd"}
        fixed = await stack.http.post(
            f"/v1/orders/{order_id}/exceptions/{exception['exception_id']}/resolve",
            json={"action": "change_address", "ship_to": new_address},
        )
        assert fixed.status_code == 200, fixed.text
        done = await stack.wait_for_status(order_id, "completed")
        first, second = await external.calls("tms", order_id)
        assert first["idempotency_key"] == second["idempotency_key"]
        assert second["body"]["ship_to"]["line1"] == "1 Nanjing Rd"
        assert done["fulfilments"][0]["shipment"]["carrier"] == "fake-express"
        assert await count(stack, Shipment, order_id) == 1


async def test_an_erp_that_refuses_the_invoice_opens_a_step_failed_exception(
    stack_factory: StackFactory, sqlite_url: str, external: External
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO, **external.settings()) as stack:
        sku = unique("DESK")
        await stock_up(stack.sessions, {sku: 5})
        external_id = unique("WEB")
        order_id = f"web-{external_id}"
        refusal = "customer C-1 has no tax id on file"
        await external.script("erp", order_id, reject_first=1, status=400, code="tax_id_missing", message=refusal)
        await submit(stack, {sku: 1}, external_id=external_id)

        view = await stack.wait_for_status(order_id, "needs_attention")
        [exception] = view["exceptions"]
        assert (exception["kind"], exception["step"]) == ("step_failed", "invoice")
        assert refusal in exception["message"] and "400" in exception["message"]
        assert await count(stack, Invoice, order_id) == 0

        # The next call meets a maintenance window (503): the step retries it, no person is asked.
        await external.script("erp", order_id, fail_first=2)
        retried = await stack.http.post(
            f"/v1/orders/{order_id}/exceptions/{exception['exception_id']}/resolve", json={"action": "retry"}
        )
        assert retried.status_code == 200, retried.text
        done = await stack.wait_for_status(order_id, "completed")
        calls = await external.calls("erp", order_id)
        assert len(calls) == 3  # refused, unavailable (retried by the step), issued
        [invoice] = [f["invoice"] for f in done["fulfilments"]]
        assert invoice["number"] == (await external.records("erp"))[calls[-1]["idempotency_key"]]["number"]
        assert await count(stack, Invoice, order_id) == 1


async def test_cancelling_an_order_tells_the_wms_to_stop_picking(
    stack_factory: StackFactory, sqlite_url: str, external: External
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.MANUAL, **external.settings()) as stack:
        sku = unique("CUP")
        await stock_up(stack.sessions, {sku: 5})
        first, _ = await submit(stack, {sku: 2})
        second, _ = await submit(stack, {sku: 1})
        [pick] = await external.until_called("wms", first)
        await external.until_called("wms", second)
        # The WMS has already finished the second order's list and will not cancel it.
        await external.script("wms-cancel", second, reject_first=1, status=409, code="picked", message="already packed")

        for order_id in (first, second):
            cancelled = await stack.http.post(f"/v1/orders/{order_id}/cancel", json={"reason": "customer changed mind"})
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json()["status"] == "cancelled"

        [stop] = await external.calls("wms-cancel", first)
        assert stop["idempotency_key"] == f"{pick['body']['pick_list_id']}:cancel"
        assert stop["body"]["reason"] == "customer changed mind"
        assert len(await external.calls("wms-cancel", second)) == 1  # refused, not retried
        stock = (await stack.http.get(f"/v1/inventory/MAIN/{sku}")).json()
        assert (stock["on_hand"], stock["reserved"]) == (5, 0)  # both orders' stock is back either way
        async with stack.sessions() as s:
            refused = list(
                await s.scalars(
                    select(OrderEvent.detail).where(
                        OrderEvent.event == "wms_cancel_refused", OrderEvent.order_id.in_((first, second))
                    )
                )
            )
        assert [r.split(": ", 1)[1] for r in refused] == ["already packed (409 picked)"]
