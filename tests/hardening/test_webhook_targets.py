"""Webhook targets (SSRF): refused at subscription time with a 422 naming `url`, and again at delivery
time after DNS resolution, so a name that later resolves to a forbidden address is caught."""

import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError

from activities.webhooks import WebhookActivities
from api.app import create_app
from domain.access import Role
from domain.contract import ErrorType
from domain.egress import Address, EgressRule, parse_networks
from egress import Egress
from store import crypto, events
from tests.conftest import bearer, make_key, settings_for
from tests.hardening.support import Capture, attempt, capturing, delivery, pending_delivery

KEY = crypto.new_key()


class FlippingDns:
    """A name server under an attacker's control: a public address while the URL is checked, loopback
    from the `flip`-th answer on (DNS rebinding). DNS lies outside our system, so this is the fake."""

    def __init__(self, flip: int) -> None:
        self.flip = flip
        self.answers = 0

    async def __call__(self, host: str, port: int) -> list[Address]:
        self.answers += 1
        return [ipaddress.ip_address("93.184.216.34" if self.answers < self.flip else "127.0.0.1")]


@pytest.fixture
async def production_api(sqlite_url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = settings_for(sqlite_url, environment="production", secret_keys=KEY)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        admin = await make_key(app.state.sessions, Role.ADMIN)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://orderflow.test", headers=bearer(admin)
        ) as http:
            yield app, http
    crypto.configure([])


async def subscribe(http: httpx.AsyncClient, url: str) -> httpx.Response:
    return await http.post("/v1/webhooks", json={"url": url, "event_types": ["*"]})


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.20/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://localhost:9000/hook",  # a name: judged by what it resolves to
    ],
)
async def test_production_refuses_internal_targets_naming_url(
    production_api: tuple[FastAPI, httpx.AsyncClient], url: str
) -> None:
    _, http = production_api
    response = await subscribe(http, url)
    assert response.status_code == 422, response.text
    problem: dict[str, Any] = response.json()
    assert [e["field"] for e in problem["errors"]] == ["url"]
    assert "not a permitted target" in problem["errors"][0]["message"]


async def test_the_allow_list_admits_a_private_integration(production_api: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, http = production_api
    app.state.egress = Egress(EgressRule(production=True, allow=parse_networks(["10.20.0.0/16"])))
    assert (await subscribe(http, "http://10.20.1.1/hook")).status_code == 201
    assert (await subscribe(http, "http://10.21.1.1/hook")).status_code == 422
    assert (await subscribe(http, "http://169.254.169.254/")).status_code == 422


async def test_a_changed_url_is_checked_too(production_api: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, http = production_api
    app.state.egress = Egress(EgressRule(production=True, allow=parse_networks(["10.20.0.0/16"])))
    hook = (await subscribe(http, "http://10.20.1.1/hook")).json()
    patched = await http.patch(f"/v1/webhooks/{hook['subscription_id']}", json={"url": "http://10.0.0.1/"})
    assert patched.status_code == 422
    assert patched.json()["errors"][0]["field"] == "url"


async def test_development_keeps_loopback_but_never_metadata(sqlite_url: str) -> None:
    app = create_app(settings_for(sqlite_url))
    async with app.router.lifespan_context(app):
        admin = await make_key(app.state.sessions, Role.ADMIN)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers=bearer(admin)
        ) as http:
            assert (await subscribe(http, "http://127.0.0.1:9/hook")).status_code == 201
            assert (await subscribe(http, "http://169.254.169.254/")).status_code == 422


async def subscription(sessions: async_sessionmaker[AsyncSession], url: str) -> str:
    async with sessions.begin() as s:
        row = await events.create_subscription(s, url, ["*"], events.new_secret(), True)
        return row.subscription_id


async def test_dns_rebinding_is_caught_at_delivery(sessions: async_sessionmaker[AsyncSession]) -> None:
    with capturing(Capture()) as receiver:
        dns = FlippingDns(flip=2)
        egress = Egress(EgressRule(production=True), resolve=dns)
        url = f"http://hooks.rebind.example:{receiver.port}/hook"
        assert await egress.check_url(url) is None  # first answer: a public address
        req = await pending_delivery(sessions, await subscription(sessions, url))
        outcome = await attempt(WebhookActivities(sessions, egress), req)
    assert (
        isinstance(outcome, ApplicationError)
        and outcome.type == ErrorType.WEBHOOK_TARGET_FORBIDDEN
        and outcome.non_retryable
    )
    assert receiver.requests == []  # nothing left the building
    row = await delivery(sessions, req.delivery_id)
    assert row.attempts == 1 and row.last_error is not None and "loopback" in row.last_error


async def test_the_allow_list_lets_a_delivery_through_in_production(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    with capturing(Capture()) as receiver:
        allowed = Egress(EgressRule(production=True, allow=parse_networks(["127.0.0.1/32"])))
        req = await pending_delivery(sessions, await subscription(sessions, receiver.url))
        outcome = await attempt(WebhookActivities(sessions, allowed), req)
        assert not isinstance(outcome, BaseException), outcome
        assert len(receiver.requests) == 1
        refused = await attempt(WebhookActivities(sessions, Egress(EgressRule(production=True))), req)
        assert isinstance(refused, ApplicationError) and refused.type == ErrorType.WEBHOOK_TARGET_FORBIDDEN
        assert len(receiver.requests) == 1


async def test_a_redirect_to_metadata_is_not_followed(sessions: async_sessionmaker[AsyncSession]) -> None:
    bounce = Capture(status=302, headers_out={"Location": "http://169.254.169.254/latest/meta-data/"})
    with capturing(bounce) as receiver:
        req = await pending_delivery(sessions, await subscription(sessions, receiver.url))
        outcome = await attempt(WebhookActivities(sessions), req)
    assert isinstance(outcome, ApplicationError)  # 302 is not a 2xx: the attempt failed
    row = await delivery(sessions, req.delivery_id)
    assert row.last_status_code == 302 and row.status == "pending"


async def test_signing_scheme_and_secret_rotation_through_the_api(
    production_api: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, http = production_api
    app.state.egress = Egress(EgressRule(production=True, allow=parse_networks(["10.20.0.0/16"])))
    url = "http://10.20.1.1/hook"
    bad = await http.post(
        "/v1/webhooks", json={"url": url, "event_types": ["*"], "signing_scheme": "standard", "secret": "x" * 20}
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "secret"
    created = await http.post("/v1/webhooks", json={"url": url, "event_types": ["*"], "signing_scheme": "standard"})
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["signing_scheme"] == "standard" and hook["secret"].startswith("whsec_")
    assert hook["previous_secret_expires_at"] is None
    rotated = await http.post(f"/v1/webhooks/{hook['subscription_id']}/rotate-secret", json={"overlap_hours": 2})
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"] != hook["secret"]
    assert rotated.json()["previous_secret_expires_at"] is not None
    assert "secret" not in (await http.get(f"/v1/webhooks/{hook['subscription_id']}")).json()
