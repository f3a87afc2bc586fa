"""Access control without servers: every route declares its roles, channel scoping, throttling, secrets."""

from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import SecretStr, ValidationError

from api.access import CONSOLE_PREFIX, PUBLIC_PATHS, SIGNED_PREFIX, RoleCheck
from api.app import create_app
from api.ratelimit import RateLimiter
from config import Settings, redact_secrets
from domain.access import Principal, Role


def role_checks(dependant: Dependant) -> list[RoleCheck]:
    found = [dependant.call] if isinstance(dependant.call, RoleCheck) else []
    for sub in dependant.dependencies:
        found += role_checks(sub)
    return found


def api_routes(app: FastAPI | None = None) -> list[APIRoute]:
    """Every route of the app, also inside included routers (which newer FastAPI keeps unflattened)."""
    found: list[APIRoute] = []

    def walk(routes: list[Any]) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                found.append(route)
            elif (included := getattr(route, "original_router", None)) is not None:
                walk(included.routes)

    walk((app or create_app(Settings())).routes)
    return found


def test_every_route_declares_the_roles_it_admits() -> None:
    routes = api_routes()
    assert len(routes) > 20 and "/healthz" in [r.path for r in routes]  # the walk sees them all
    undeclared = [
        f"{sorted(r.methods or ())} {r.path}"
        for r in routes
        if r.path not in PUBLIC_PATHS
        and not r.path.startswith((SIGNED_PREFIX, CONSOLE_PREFIX))
        and not role_checks(r.dependant)
    ]
    assert undeclared == [], "add `require(...)` (api.access) to these routes"
    for route in routes:
        checks = role_checks(route.dependant)
        assert len({frozenset(c.roles) for c in checks}) <= 1, f"{route.path} declares conflicting roles"
        if route.path in PUBLIC_PATHS or route.path.startswith(SIGNED_PREFIX):
            assert not checks
    # Signed by a partner instead of a key: the one route of that kind, so nothing slips in by its prefix.
    assert [r.path for r in routes if r.path.startswith(SIGNED_PREFIX)] == ["/v1/callbacks/{partner_id}"]


def test_openapi_shows_the_lock_and_problem_errors() -> None:
    spec = create_app(Settings(max_page_size=77)).openapi()
    assert spec["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key: `Authorization: Bearer of_...`",
    }
    get_order = spec["paths"]["/v1/orders/{order_id}"]["get"]
    assert get_order["security"] == [{"HTTPBearer": []}]
    assert set(get_order["responses"]) >= {"200", "401", "403", "404", "429"}
    assert list(get_order["responses"]["404"]["content"]) == ["application/problem+json"]
    assert "security" not in spec["paths"]["/healthz"]["get"]
    submit = spec["paths"]["/v1/orders"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in submit["parameters"]]
    assert {"409", "413", "422"} <= set(submit["responses"])
    limit = next(p for p in spec["paths"]["/v1/orders"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 77
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_a_channel_key_sees_its_own_channel_only_decided_from_the_id() -> None:
    web = Principal("k_1", "shop", Role.CHANNEL, "web")
    assert web.sees_order("web-WEB-1")
    assert not web.sees_order("market-WEB-1")
    assert not web.sees_order("webx-1")
    assert not web.sees_order("not an id")
    assert Principal("k_2", "ops", Role.HANDLER).sees_order("market-WEB-1")
    assert web.actor == "key:shop"


def test_admin_may_everything_and_others_what_they_are_given() -> None:
    handler = Principal("k_1", "carol", Role.HANDLER)
    assert handler.may(frozenset({Role.HANDLER}))
    assert not handler.may(frozenset({Role.PARTNER}))
    assert Principal("k_2", "root", Role.ADMIN).may(frozenset())
    assert RoleCheck(frozenset()).roles == {Role.ADMIN}


def test_a_noisy_key_empties_its_own_bucket_only() -> None:
    limiter = RateLimiter(per_second=1, burst=3)
    assert [limiter.wait("noisy") for _ in range(3)] == [0, 0, 0]
    assert 0 < limiter.wait("noisy") <= 1
    assert limiter.wait("quiet") == 0


def test_production_refuses_placeholder_secrets() -> None:
    with pytest.raises(ValidationError, match="ORDERFLOW_DATABASE_URL"):
        Settings(environment="production", database_url="postgresql+asyncpg://orderflow:orderflow@db/orderflow")
    key = Fernet.generate_key().decode()
    Settings(
        environment="production", database_url="postgresql+asyncpg://orderflow:Xq93hfa0@db/orderflow", secret_keys=key
    )
    Settings(environment="development", database_url="postgresql+asyncpg://orderflow:orderflow@db/orderflow")

    class WithSecret(Settings):
        webhook_secret: SecretStr = SecretStr("changeme")

    with pytest.raises(ValidationError, match="ORDERFLOW_WEBHOOK_SECRET"):
        WithSecret(environment="production", database_url="postgresql+asyncpg://u:Xq93hfa0@db/o")
    WithSecret(
        environment="production",
        database_url="postgresql+asyncpg://u:Xq93hfa0@db/o",
        webhook_secret="s3cr3t-9f",
        secret_keys=key,
    )


def test_secrets_never_reach_a_log_line() -> None:
    key = "of_" + "A1b2" * 11
    event: dict[str, Any] = {
        "event": f"calling with Authorization: Bearer {key}",
        "url": "postgresql+asyncpg://orderflow:hunter2@db:5432/orderflow",
        "api_key": "anything",
        "headers": {"authorization": "Bearer xyz", "accept": "json"},
        "args": [key],
        "order_id": "web-WEB-1",
    }
    line = str(redact_secrets(None, "info", event))
    assert key not in line and "hunter2" not in line and "anything" not in line and "xyz" not in line
    assert "web-WEB-1" in line and "orderflow:[redacted]@db:5432" in line and "json" in line
