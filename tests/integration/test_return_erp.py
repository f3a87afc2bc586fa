"""A refund's credit note issued by the external ERP, the way invoices are: one call per return's key,
its number on the return, retried while the ERP is down, a person told when it says no."""

import asyncio

from config import WarehouseMode
from store import returns
from tests.conftest import Stack, StackFactory, stock_up, unique
from tests.integration.test_external_systems import TOKEN, External, external
from tests.integration.test_returns import shipped_order, until_return

__all__ = ["external"]  # the fake ERP's fixture, shared with test_external_systems


def erp_only(external: External) -> dict[str, str]:
    return {"erp_url": f"{external.base_url}/erp", "erp_token": TOKEN}


async def returned(stack: Stack, order_id: str, lines: list[dict[str, object]]) -> str:
    asked = await stack.http.post(
        f"/v1/orders/{order_id}/returns", json={"lines": [{"sku": x["sku"], "quantity": x["quantity"]} for x in lines]}
    )
    return_id: str = asked.json()["return_id"]
    assert (await stack.http.post(f"/v1/returns/{return_id}/approve")).status_code == 200
    received = await stack.http.post(f"/v1/returns/{return_id}/receive", json={"report_id": "R1", "lines": lines})
    assert received.status_code == 200, received.text
    return return_id


async def test_the_erp_issues_the_credit_note_once_even_when_it_was_down(
    stack_factory: StackFactory, sqlite_url: str, external: External
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO, **erp_only(external)) as stack:
        tee = unique("TEE")
        await stock_up(stack.sessions, {tee: 5})
        order_id = await shipped_order(stack, {tee: 3})
        [bill] = await external.calls("erp", order_id)
        invoice_number = (await external.records("erp"))[bill["idempotency_key"]]["number"]
        await external.script("erp-credit", order_id, fail_first=2)  # down twice, then answers

        return_id = await returned(stack, order_id, [{"sku": tee, "quantity": 2, "disposition": "damaged"}])
        done = await until_return(stack, return_id, "closed")

        calls = await external.calls("erp-credit", order_id)
        assert len(calls) == 3 and {c["idempotency_key"] for c in calls} == {f"{return_id}:refund"}
        assert calls[0]["body"] == calls[1]["body"] == calls[2]["body"]  # the same lines on every retry
        assert calls[-1]["body"] == {
            "credit_note_key": f"{return_id}:refund",
            "return_id": return_id,
            "order_id": order_id,
            "amount": "20.00",
            "currency": "CNY",
            "lines": [
                {"invoice_number": invoice_number, "sku": tee, "quantity": 2, "unit_price": "10.00", "total": "20.00"}
            ],
        }
        issued = (await external.records("erp-credit"))[f"{return_id}:refund"]
        assert done["credit_note"] == issued["number"] and done["refunded"]["amount"] == "20.00"


async def test_a_credit_note_the_erp_rejects_is_left_to_a_person(
    stack_factory: StackFactory, sqlite_url: str, external: External
) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO, **erp_only(external)) as stack:
        tee = unique("TEE")
        await stock_up(stack.sessions, {tee: 5})
        order_id = await shipped_order(stack, {tee: 1})
        await external.script(
            "erp-credit", order_id, reject_first=1, status=422, code="period_closed", message="period is closed"
        )
        return_id = await returned(stack, order_id, [{"sku": tee, "quantity": 1, "disposition": "restock"}])
        rests = await until_return(stack, return_id, "received")
        for _ in range(100):
            rests = (await stack.http.get(f"/v1/returns/{return_id}")).json()
            if rests["events"][-1]["event"] == "refund_refused":
                break
            await asyncio.sleep(0.1)
        assert rests["events"][-1]["event"] == "refund_refused"
        assert "period is closed" in rests["events"][-1]["detail"]
        assert rests["credit_note"] is None and rests["refunded"]["amount"] == "0.00"
        alerts = (await stack.http.get("/v1/alerts", params={"kind": "return_refund_refused"})).json()
        assert any(return_id in a["message"] for a in alerts["items"])
        async with stack.sessions() as s:  # the pending credit note went back: nothing credited
            assert await returns.credit_note_of(s, return_id) is None
            assert await returns.credited(s, order_id) == []
