"""Contract edges found by outside clients (schemathesis, the OpenAPI document's readers)."""

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from domain.access import Role
from store import migrate
from store.db import create_engine, create_sessions
from store.tables import Warehouse
from tests.conftest import bearer, make_key, settings_for


@pytest.fixture
async def http(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings_for(sqlite_url))
    async with app.router.lifespan_context(app):
        admin = await make_key(app.state.sessions, Role.ADMIN)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers=bearer(admin)
        ) as client:
            yield client


async def test_unknown_query_parameters_are_refused_naming_them(http: httpx.AsyncClient) -> None:
    misspelt = await http.get("/v1/webhooks", params={"limt": 5})
    assert misspelt.status_code == 422
    assert [e["field"] for e in misspelt.json()["errors"]] == ["limt"]
    assert "cursor, limit" in misspelt.json()["errors"][0]["message"]
    assert (await http.get("/v1/webhooks", params={"limit": 5})).status_code == 200


async def test_a_huge_limit_names_the_real_bound(http: httpx.AsyncClient) -> None:
    for limit in ("201", "99999999999999999999999"):
        answer = await http.get("/v1/webhooks", params={"limit": limit})
        assert answer.status_code == 422
        assert answer.json()["errors"] == [{"field": "limit", "message": "at most 200 items per page"}]


async def test_every_reference_in_the_openapi_document_resolves(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    refs = set(re.findall(r'"\$ref": "([^"]+)"', json.dumps(spec)))
    assert refs and not [r for r in refs if not r.startswith("#/components/schemas/")]
    missing = {r for r in refs if r.removeprefix("#/components/schemas/") not in spec["components"]["schemas"]}
    assert missing == set()
    assert "#/components/schemas/CallbackType" in refs


async def test_a_bad_cursor_names_the_cursor(http: httpx.AsyncClient) -> None:
    for path in ("/v1/orders", "/v1/exceptions", "/v1/alerts"):
        answer = await http.get(path, params={"cursor": "not-a-cursor"})
        assert answer.status_code == 422, path
        assert [e["field"] for e in answer.json()["errors"]] == ["cursor"], path


async def test_the_default_warehouse_takes_its_country_from_settings(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    await migrate.ensure_default_warehouse(url, "MAIN", "DE")
    await migrate.ensure_default_warehouse(url, "MAIN", "FR")  # an existing warehouse keeps its country
    engine = create_engine(url)
    try:
        async with create_sessions(engine)() as s:
            warehouse = await s.get(Warehouse, "MAIN")
            assert warehouse is not None and warehouse.country == "DE"
    finally:
        await engine.dispose()


async def test_a_body_that_is_not_json_is_415(http: httpx.AsyncClient) -> None:
    sent = await http.post("/v1/api-keys", content=b"name=x&role=viewer", headers={"content-type": "text/plain"})
    assert sent.status_code == 415, sent.text
    assert sent.json()["errors"][0]["field"] == "content-type"
    as_json = await http.post("/v1/api-keys", json={"name": "json-ok", "role": "viewer"})
    assert as_json.status_code == 201


async def test_a_5000_digit_number_is_not_called_invalid_json(http: httpx.AsyncClient) -> None:
    body = b'{"name": "digits", "role": "viewer", "channel": ' + b"9" * 5000 + b"}"
    sent = await http.post("/v1/api-keys", content=body, headers={"content-type": "application/json"})
    assert sent.status_code == 422
    assert sent.json()["errors"] == [{"field": "body", "message": "a number in the body has too many digits"}]
