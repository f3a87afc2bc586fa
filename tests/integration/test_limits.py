"""Input limits and throttling: what the API refuses before it does any work."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from domain.access import Role
from tests.conftest import StackFactory, order_body, stock_up, unique


async def test_oversized_bodies_are_413(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url) as stack:
        big = b'{"name": "' + b"x" * (2**20) + b'", "role": "viewer"}'
        announced = await stack.http.post("/v1/api-keys", content=big, headers={"content-type": "application/json"})
        assert announced.status_code == 413
        assert announced.headers["content-type"] == "application/problem+json"

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b" " * 60_000  # no Content-Length: counted as it streams

        streamed = await stack.http.post("/v1/orders", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413


async def test_lines_per_order_are_limited(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url) as stack:
        body = order_body({f"SKU-{i}": 1 for i in range(501)})
        refused = await stack.http.post("/v1/orders", json=body)
        assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["lines"]
        assert "at most 500" in refused.json()["errors"][0]["message"]

    async with stack_factory(sqlite_url, max_order_lines=2) as stack:
        skus = [unique("L"), unique("L"), unique("L")]
        await stock_up(stack.sessions, dict.fromkeys(skus, 5))
        assert (await stack.http.post("/v1/orders", json=order_body(dict.fromkeys(skus[:2], 1)))).status_code == 201
        three = await stack.http.post("/v1/orders", json=order_body(dict.fromkeys(skus, 1)))
        assert three.status_code == 422 and three.json()["errors"][0]["field"] == "lines"


async def test_unknown_fields_and_long_strings_are_refused_everywhere(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url) as stack:
        order = order_body({"ANY": 1})
        cases: list[tuple[str, str, dict[str, Any], str]] = [
            ("POST", "/v1/orders", {**order, "status": "completed"}, "status"),
            ("POST", "/v1/orders", {**order, "customer": {**order["customer"], "vip": True}}, "customer.vip"),
            ("POST", "/v1/orders", {**order, "customer": {**order["customer"], "name": "n" * 201}}, "customer.name"),
            ("PUT", "/v1/products/NEW-1", {"name": "x", "unit_price": "1", "updated_at": "2020-01-01"}, "updated_at"),
            ("PUT", "/v1/inventory/MAIN/NEW-1", {"on_hand": 1, "reserved": 0}, "reserved"),
            ("POST", "/v1/api-keys", {"name": "x", "role": "viewer", "key_hash": "00"}, "key_hash"),
            ("POST", "/v1/api-keys", {"name": "x" * 65, "role": "viewer"}, "name"),
            ("POST", "/v1/orders/web-X/cancel", {"reason": "r", "actor": "someone else"}, "actor"),
            ("POST", "/v1/orders/web-X/cancel", {"reason": "r" * 1001}, "reason"),
            ("POST", "/v1/pick-lists/PL-1/confirm", {"confirmed_by": "bob", "state": "confirmed"}, "state"),
        ]
        for method, path, body, field in cases:
            response = await stack.http.request(method, path, json=body)
            assert response.status_code == 422, (path, field, response.text)
            assert field in [e["field"] for e in response.json()["errors"]], (path, field, response.json())


async def test_page_sizes_are_limited(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url) as stack:
        for path in ("/v1/orders", "/v1/exceptions", "/v1/alerts", "/v1/products", "/v1/inventory", "/v1/audit"):
            assert (await stack.http.get(path, params={"limit": 200})).status_code == 200, path
            too_many = await stack.http.get(path, params={"limit": 201})
            assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "limit", path
    async with stack_factory(sqlite_url, max_page_size=10) as stack:
        assert (await stack.http.get("/v1/orders", params={"limit": 11})).status_code == 422


async def test_a_flooding_key_is_throttled_and_another_key_is_not(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, rate_limit_per_second=2, rate_limit_burst=5) as stack:
        noisy = stack.as_role(Role.VIEWER)
        flood = await asyncio.gather(*(stack.http.get("/v1/products", headers=noisy) for _ in range(30)))
        codes = [r.status_code for r in flood]
        assert codes.count(200) <= 6 and codes.count(429) >= 24
        throttled = next(r for r in flood if r.status_code == 429)
        assert int(throttled.headers["retry-after"]) >= 1
        assert throttled.headers["content-type"] == "application/problem+json"

        # Meanwhile another key goes straight through.
        calm = stack.as_role(Role.HANDLER)
        assert [(await stack.http.get("/v1/products", headers=calm)).status_code for _ in range(5)] == [200] * 5

        await asyncio.sleep(1.1)  # the bucket refills at its rate
        assert (await stack.http.get("/v1/products", headers=noisy)).status_code == 200
