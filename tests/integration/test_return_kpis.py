"""The return rate in GET /v1/kpis over real orders and returns (a channel of its own: the database is shared)."""

import uuid

from config import WarehouseMode
from tests.conftest import StackFactory, order_body, stock_up, unique
from tests.integration.test_kpis import kpis_of
from tests.integration.test_returns import until_return


async def test_the_return_rate_counts_units_that_came_back_of_units_shipped(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    channel = f"ret{uuid.uuid4().hex[:8]}"
    async with stack_factory(sqlite_url, mode=WarehouseMode.AUTO) as stack:
        tee, cap = unique("TEE"), unique("CAP")
        await stock_up(stack.sessions, {tee: 10, cap: 10})
        first, second = [
            (await stack.http.post("/v1/orders", json=order_body(lines, channel=channel))).json()["order_id"]
            for lines in ({tee: 3, cap: 1}, {tee: 4})
        ]
        for order_id in (first, second):
            await stack.wait_for_status(order_id, "completed")
        returned = (
            await stack.http.post(
                f"/v1/orders/{first}/returns",
                json={"lines": [{"sku": tee, "quantity": 2}, {"sku": cap, "quantity": 1}]},
            )
        ).json()["return_id"]
        assert (await stack.http.post(f"/v1/returns/{returned}/approve")).status_code == 200
        report = {
            "report_id": "R1",
            "lines": [
                {"sku": tee, "quantity": 1, "disposition": "restock"},
                {"sku": tee, "quantity": 1, "disposition": "damaged"},
                {"sku": cap, "quantity": 1, "disposition": "missing"},
            ],
        }
        assert (await stack.http.post(f"/v1/returns/{returned}/receive", json=report)).status_code == 200
        await until_return(stack, returned, "closed")
        waiting = await stack.http.post(f"/v1/orders/{second}/returns", json={"lines": [{"sku": tee, "quantity": 1}]})
        assert waiting.status_code == 201

        returns = (await kpis_of(stack, channel))["kpis"]["returns"]
        assert returns == {
            "units_shipped": 8,
            "units_returned": 2,  # the missing cap did not come back
            "rate": 0.25,
            "orders_shipped": 2,
            "orders_returned": 1,
            "order_rate": 0.5,
            "by_disposition": {"damaged": 1, "missing": 1, "restock": 1},
            "pending_units": 1,  # requested on the second order, not received yet
        }
