"""Idempotency-Key on POST: a retry gets the first answer, never a second action."""

import asyncio
import json
from datetime import timedelta

from sqlalchemy import func, select, update

from api.idempotency import request_hash
from domain.access import Role
from store import idempotency, keys
from store.sql import utcnow
from store.tables import ApiKey, IdempotencyRecord
from tests.conftest import Stack, StackFactory, order_body, stock_up, unique


async def keys_named(stack: Stack, name: str) -> int:
    async with stack.sessions() as s:
        return int((await s.execute(select(func.count()).where(ApiKey.name == name))).scalar_one())


async def test_a_retry_gets_the_first_answer_and_acts_once(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url) as stack:
        name = unique("idem").lower()
        headers = {"Idempotency-Key": unique("create-key")}
        first = await stack.http.post("/v1/api-keys", json={"name": name, "role": "viewer"}, headers=headers)
        assert first.status_code == 201 and "idempotent-replayed" not in first.headers
        # The same request, spelled differently: JSON is compared by value.
        again = await stack.http.post(
            "/v1/api-keys",
            content=f'{{ "role": "viewer",  "name": "{name}" }}',
            headers={**headers, "content-type": "application/json"},
        )
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()  # the same key id and secret: one key, not two
        assert await keys_named(stack, name) == 1

        different = await stack.http.post("/v1/api-keys", json={"name": name + "x", "role": "viewer"}, headers=headers)
        assert different.status_code == 422
        assert different.json()["errors"][0]["field"] == "Idempotency-Key"
        assert await keys_named(stack, name + "x") == 0

        # Scoped to the API key that sent it: another key's same Idempotency-Key is another request.
        other_admin = await stack.http.post("/v1/api-keys", json={"name": "second-admin", "role": "admin"})
        mine = {"Authorization": f"Bearer {other_admin.json()['key']}", **headers}
        theirs = await stack.http.post("/v1/api-keys", json={"name": name, "role": "viewer"}, headers=mine)
        assert theirs.status_code == 201 and "idempotent-replayed" not in theirs.headers
        assert await keys_named(stack, name) == 2

        too_long = await stack.http.post(
            "/v1/api-keys", json={"name": name, "role": "viewer"}, headers={"Idempotency-Key": "k" * 256}
        )
        assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "Idempotency-Key"
        longest = await stack.http.post(
            "/v1/api-keys", json={"name": unique("l").lower(), "role": "viewer"}, headers={"Idempotency-Key": "k" * 255}
        )
        assert longest.status_code == 201


async def test_a_retry_while_the_first_runs_is_409(stack_factory: StackFactory, database_url: str) -> None:
    async with stack_factory(database_url) as stack:
        async with stack.sessions() as s:
            admin = await keys.authenticate(s, stack.keys[Role.ADMIN])
        assert admin is not None
        body = {"name": unique("flight").lower(), "role": "viewer"}
        scope = {"method": "POST", "path": "/v1/api-keys", "query_string": b""}
        async with stack.sessions.begin() as s:  # as if a first request had just started
            claimed = await idempotency.claim(
                s, admin.key_id, "in-flight", request_hash(scope, json.dumps(body).encode()), timedelta(hours=1)
            )
        assert claimed is None
        running = await stack.http.post("/v1/api-keys", json=body, headers={"Idempotency-Key": "in-flight"})
        assert running.status_code == 409 and running.headers["retry-after"] == "1"
        assert await keys_named(stack, body["name"]) == 0

        # Many at once: one acts, the others wait their turn (409) or get its answer.
        body = {"name": unique("burst").lower(), "role": "viewer"}
        answers = await asyncio.gather(
            *(stack.http.post("/v1/api-keys", json=body, headers={"Idempotency-Key": "burst"}) for _ in range(8))
        )
        assert {a.status_code for a in answers} <= {201, 409}
        assert sum(a.status_code == 201 and "idempotent-replayed" not in a.headers for a in answers) == 1
        assert await keys_named(stack, body["name"]) == 1


async def test_records_expire_and_then_the_key_is_new(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url) as stack:
        sku = unique("IDEM")
        await stock_up(stack.sessions, {sku: 5})
        headers = {"Idempotency-Key": unique("order")}
        body = order_body({sku: 1})
        first = await stack.http.post("/v1/orders", json=body, headers=headers)
        replay = await stack.http.post("/v1/orders", json=body, headers=headers)
        assert (first.status_code, replay.status_code) == (201, 201)
        assert replay.headers["location"] == first.headers["location"]
        assert replay.headers["idempotent-replayed"] == "true"

        async with stack.sessions.begin() as s:
            await s.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.idempotency_key == headers["Idempotency-Key"])
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        fresh = await stack.http.post("/v1/orders", json=body, headers=headers)
        assert fresh.status_code == 200 and "idempotent-replayed" not in fresh.headers  # run again: the same order
        assert fresh.json()["order_id"] == first.json()["order_id"]
