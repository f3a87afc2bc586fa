"""Who may do what, through the real API: every route and every role, channel scoping, revocation.

One piece on purpose: `routes` is the table of every route the app registers with the roles allowed on it,
kept whole so that a reader sees every route's roles in one place; the test that walks it fails on a route
missing from it."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from api.access import CONSOLE_PREFIX, PUBLIC_PATHS, SIGNED_PREFIX
from api.app import create_app
from config import WarehouseMode
from domain.access import Role
from domain.events import BusinessEvent, event_id
from store import events, keys
from store.tables import ProjectionRow
from tests.conftest import Stack, StackFactory, bearer, make_key, order_body, stock_up, unique
from tests.integration.test_api_exceptions import eventually
from tests.unit.test_access import api_routes, role_checks
from tests.unit.test_importing import as_csv, line

ALL_ROLES = list(Role)
READ_ORDERS = {Role.CHANNEL, Role.HANDLER, Role.VIEWER, Role.ADMIN}
OPERATE = {Role.HANDLER, Role.VIEWER, Role.ADMIN}
HANDLE = {Role.HANDLER, Role.ADMIN}
ADMIN = {Role.ADMIN}
RULES = {Role.RULES_EDITOR, Role.ADMIN}
READ_RULES = {Role.RULES_EDITOR, Role.HANDLER, Role.VIEWER, Role.ADMIN}
PURCHASE = {Role.HANDLER, Role.PARTNER, Role.ADMIN}

Request = tuple[str, dict[str, Any] | bytes | None]  # concrete path, JSON body or a file to upload


@dataclass
class Route:
    method: str
    template: str
    admits: set[Role]
    ok: int = 200
    # The request each admitted role sends (by default: the template as is, no body).
    request: Callable[[Role], Awaitable[Request]] | None = None
    body: dict[str, Any] | bytes | None = None
    sent: dict[Role, Request] = field(default_factory=dict)


class World:
    """The orders, alerts and keys the matrix acts on, one of each per role where acting uses them up."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.sku = unique("MX")
        self.scarce = unique("MXS")

    async def order(self, lines: dict[str, int], status: str, channel: str = "shop", key: str = "") -> dict[str, Any]:
        headers = bearer(key) if key else {}
        created = await self.stack.http.post("/v1/orders", json=order_body(lines, channel=channel), headers=headers)
        assert created.status_code == 201, created.text
        return await self.stack.wait_for_status(created.json()["order_id"], status)

    async def rule(self, when: str, status: str = "draft") -> int:
        body = {"name": "matrix", "when": when, "then": [{"type": "tag", "tags": ["matrix"]}], "status": status}
        created = await self.stack.http.post("/v1/rules", json=body)
        assert created.status_code == 201, created.text
        rule_id: int = created.json()["rule_id"]
        return rule_id

    async def build(self) -> None:
        await stock_up(self.stack.sessions, {self.sku: 1000, self.scarce: 0})
        approval = {
            "name": "matrix approval",
            "when": f'order.lines.exists(l, l.sku == "{self.sku}") && order.total > 500.0',
            "then": [{"type": "require_approval", "reason": "matrix"}],
            "status": "active",
        }
        created = await self.stack.http.post("/v1/rules", json=approval)
        assert created.status_code == 201, created.text
        self.approval_rule = created.json()["rule_id"]
        never = 'order.channel == "never"'
        self.rule_id, self.spare_rule, self.doomed_rule = [await self.rule(never) for _ in range(3)]
        views = await asyncio.gather(
            *(self.order({self.sku: 1}, "picking") for _ in range(7)),
            *(self.order({self.scarce: 1}, "needs_attention") for _ in range(2)),
            *(self.order({self.sku: 60}, "awaiting_approval") for _ in range(4)),
            self.order({self.sku: 1}, "picking", channel="web", key=self.stack.keys[Role.CHANNEL]),
        )
        self.picking = [v["order_id"] for v in views[:7]]
        self.pick_lists = {v["order_id"]: v["fulfilments"][0]["pick_list_id"] for v in views[:7]}
        self.shortages = [(v["order_id"], v["exceptions"][0]["exception_id"]) for v in views[7:9]]
        self.awaiting = [v["order_id"] for v in views[9:13]]
        self.web_order = views[13]["order_id"]
        await self.after_the_order()
        alerts = await eventually(
            lambda: self.stack.http.get("/v1/alerts", params={"order_id": self.shortages[0][0]}),
            lambda r: r.json()["items"],
        )
        self.alert_id = alerts.json()["items"][0]["alert_id"]
        self.spare_key = (await self.stack.http.post("/v1/api-keys", json={"name": "spare", "role": "viewer"})).json()
        await self.webhooks()
        self.imports = {
            role: (
                await send(self.stack, "POST", "/v1/orders/import", self.sheet(role), self.stack.as_role(role))
            ).json()["import_id"]
            for role in (Role.CHANNEL, Role.ADMIN)
        }

        self.partner = unique("mx").lower()
        created = await self.stack.http.post(
            "/v1/partners",
            json={"partner_id": self.partner, "name": "matrix", "kind": "warehouse", "warehouses": ["MAIN"]},
        )
        assert created.status_code == 201, created.text
        await self.foresight()

    async def foresight(self) -> None:
        """An open inbound to read and move, and a stock projection of the matrix SKU to reorder from."""
        self.inbound = (await self.stack.http.post("/v1/inbound", json=self.inbound_body())).json()["inbound_id"]
        now = datetime.now(UTC)
        async with self.stack.sessions.begin() as s:
            zero = ("backordered", "inbound", "open_orders", "safety_stock", "reorder_point", "suggested_quantity")
            figures = {
                **dict.fromkeys(zero, 0),
                "lead_time_days": 7.0,
                "lead_time_sd_days": 0.0,
                "lead_time_demand": 0.0,
            }
            s.add(
                ProjectionRow(sku=self.sku, warehouse="MAIN", available=1000, at_risk=False, computed_at=now, **figures)
            )

    def inbound_body(self) -> dict[str, Any]:
        expected_at = (datetime.now(UTC) + timedelta(days=3)).isoformat()
        lines = [{"sku": self.sku, "quantity": 10}]
        return {"reference": unique("PO"), "warehouse": "MAIN", "expected_at": expected_at, "lines": lines}

    async def after_the_order(self) -> None:
        """Partly shipped orders to cancel the remainder of, and a shipped order with returns in every state
        the return routes act on: two to approve, two to decline, three approved to receive."""
        partial = [unique("MXP"), unique("MXP")]
        await stock_up(self.stack.sessions, dict.fromkeys(partial, 1))
        halves = []
        for sku in partial:  # a part allocated, the rest backordered (with a stock_shortage, the window being 0)
            order_id = (await self.stack.http.post("/v1/orders", json=order_body({sku: 2}, channel="b2b"))).json()[
                "order_id"
            ]
            halves.append(
                await self.stack.until(order_id, lambda v: v["fulfilments"] and v["fulfilments"][0]["pick_list_id"])
            )
        shipped = await self.order({self.sku: 9}, "picking")
        for view in [*halves, shipped]:
            await self.stack.http.post(f"/v1/pick-lists/{view['fulfilments'][0]['pick_list_id']}/confirm")
        self.partly_shipped = [v["order_id"] for v in halves]
        for order_id in self.partly_shipped:
            await self.stack.until(order_id, lambda v: v["fulfilments"][0]["invoice"])
        self.shipped = (await self.stack.wait_for_status(shipped["order_id"], "completed"))["order_id"]
        one = {"lines": [{"sku": self.sku, "quantity": 1}]}
        rmas = [
            (await self.stack.http.post(f"/v1/orders/{self.shipped}/returns", json=one)).json()["return_id"]
            for _ in range(7)
        ]
        self.to_approve, self.to_decline, self.to_receive = rmas[0:2], rmas[2:4], rmas[4:7]
        for return_id in self.to_receive:
            assert (await self.stack.http.post(f"/v1/returns/{return_id}/approve")).status_code == 200

    def sheet(self, role: Role) -> bytes:
        """An import file of one order, for the channel key's channel or another."""
        channel = "web" if role is Role.CHANNEL else "shop"
        return as_csv([line(unique("IMP"), self.sku, "1", channel=channel)])

    async def webhooks(self) -> None:
        """Two subscriptions to an event no order produces yet, and a dead letter of one to redeliver."""
        hook = {"url": "http://127.0.0.1:9/hooks", "event_types": ["order.delivered"]}
        self.webhook = (await self.stack.http.post("/v1/webhooks", json=hook)).json()["subscription_id"]
        self.spare_webhook = (await self.stack.http.post("/v1/webhooks", json=hook)).json()["subscription_id"]
        order_id = self.picking[0]
        event = BusinessEvent(event_id(order_id, "matrix"), "order.delivered", order_id, datetime.now(UTC), {})
        async with self.stack.sessions.begin() as s:
            await events.record(s, [event])
            row = await events.get_event(s, event.event_id)
            assert row is not None
            await events.mark_dispatched(s, [row.seq])
            self.dead_letter = await events.open_delivery(s, self.webhook, row)
            await events.dead_letter(s, self.dead_letter, "matrix")

    def one(self, pool: list[Any], role: Role, roles: list[Role]) -> Any:
        return pool[roles.index(role)]


def routes(w: World) -> list[Route]:
    def per_role(build: Callable[[Role], Request]) -> Callable[[Role], Awaitable[Request]]:
        async def request(role: Role) -> Request:
            return build(role)

        return request

    handlers = [Role.HANDLER, Role.ADMIN]
    confirmers = [Role.PARTNER, Role.HANDLER, Role.ADMIN]
    cancels, holds, confirms = w.picking[0:2], w.picking[2:4], w.picking[4:7]
    approvals, rejections = w.awaiting[0:2], w.awaiting[2:4]
    product = f"/v1/products/{w.sku}"
    stock = f"/v1/inventory/MAIN/{w.sku}"
    hook = f"/v1/webhooks/{w.webhook}"
    rule = f"/v1/rules/{w.rule_id}"
    inbound = f"/v1/inbound/{w.inbound}"
    moved = {"expected_at": (datetime.now(UTC) + timedelta(days=4)).isoformat()}
    reorder = {"sku": w.sku, "warehouse": "MAIN", "quantity": 5}
    draft = {"name": "matrix", "when": 'order.channel == "never"', "then": [{"type": "tag", "tags": ["m"]}]}

    def submit(role: Role) -> Request:
        return "/v1/orders", order_body({w.sku: 1}, channel="web" if role is Role.CHANNEL else "shop")

    def read_order(role: Role) -> Request:
        return f"/v1/orders/{w.web_order if role is Role.CHANNEL else w.picking[0]}", None

    def resolve(role: Role) -> Request:
        order_id, exception_id = w.one(w.shortages, role, handlers)
        return f"/v1/orders/{order_id}/exceptions/{exception_id}/resolve", {"action": "cancel"}

    address = {**order_body({})["ship_to"], "line1": "1 Nanjing Rd"}
    own_import = per_role(
        lambda r: (f"/v1/imports/{w.imports[Role.CHANNEL if r is Role.CHANNEL else Role.ADMIN]}", None)
    )
    return [
        Route(
            "POST",
            "/v1/orders/import",
            {Role.CHANNEL, Role.ADMIN},
            202,
            per_role(lambda r: ("/v1/orders/import", w.sheet(r))),
        ),
        Route("GET", "/v1/orders/import/template", {Role.CHANNEL, Role.ADMIN}),
        Route("GET", "/v1/imports/{import_id}", READ_ORDERS, request=own_import),
        Route("POST", "/v1/orders", {Role.CHANNEL, Role.ADMIN}, 201, per_role(submit)),
        Route("GET", "/v1/orders", READ_ORDERS),
        Route("GET", "/v1/orders/{order_id}", READ_ORDERS, request=per_role(read_order)),
        Route("POST", "/v1/orders/{order_id}/exceptions/{exception_id}/resolve", HANDLE, request=per_role(resolve)),
        Route(
            "POST",
            "/v1/orders/{order_id}/cancel",
            HANDLE,
            request=per_role(lambda r: (f"/v1/orders/{w.one(cancels, r, handlers)}/cancel", {"reason": "matrix"})),
        ),
        Route(
            "POST",
            "/v1/orders/{order_id}/hold",
            HANDLE,
            request=per_role(lambda r: (f"/v1/orders/{w.one(holds, r, handlers)}/hold", {"reason": "matrix"})),
        ),
        Route(
            "POST",
            "/v1/orders/{order_id}/release",
            HANDLE,
            request=per_role(lambda r: (f"/v1/orders/{w.one(holds, r, handlers)}/release", None)),
        ),
        Route(
            "POST",
            "/v1/orders/{order_id}/change-address",
            HANDLE,
            request=per_role(
                lambda r: (f"/v1/orders/{w.one(holds, r, handlers)}/change-address", {"ship_to": address})
            ),
        ),
        Route(
            "POST",
            "/v1/orders/{order_id}/approve",
            HANDLE,
            request=per_role(lambda r: (f"/v1/orders/{w.one(approvals, r, handlers)}/approve", None)),
        ),
        Route(
            "POST",
            "/v1/orders/{order_id}/reject",
            HANDLE,
            request=per_role(lambda r: (f"/v1/orders/{w.one(rejections, r, handlers)}/reject", {"note": "matrix"})),
        ),
        Route(
            "POST",
            "/v1/orders/{order_id}/cancel-remainder",
            HANDLE,
            request=per_role(
                lambda r: (f"/v1/orders/{w.one(w.partly_shipped, r, handlers)}/cancel-remainder", {"reason": "x"})
            ),
        ),
        Route(
            "POST",
            "/v1/orders/{order_id}/edits",
            HANDLE,
            request=per_role(
                lambda r: (
                    f"/v1/orders/{w.picking[3]}/edits",
                    {"lines": [{"sku": w.sku, "quantity": 2}], "preview": True},
                )
            ),
        ),
        Route(
            "POST",
            "/v1/orders/{order_id}/returns",
            HANDLE,
            201,
            per_role(lambda r: (f"/v1/orders/{w.shipped}/returns", {"lines": [{"sku": w.sku, "quantity": 1}]})),
        ),
        Route("GET", "/v1/returns", OPERATE),
        Route(
            "GET",
            "/v1/returns/{return_id}",
            OPERATE,
            request=per_role(lambda r: (f"/v1/returns/{w.to_approve[0]}", None)),
        ),
        Route(
            "POST",
            "/v1/returns/{return_id}/approve",
            HANDLE,
            request=per_role(lambda r: (f"/v1/returns/{w.one(w.to_approve, r, handlers)}/approve", None)),
        ),
        Route(
            "POST",
            "/v1/returns/{return_id}/decline",
            HANDLE,
            request=per_role(lambda r: (f"/v1/returns/{w.one(w.to_decline, r, handlers)}/decline", {"note": "x"})),
        ),
        Route(
            "POST",
            "/v1/returns/{return_id}/receive",
            {Role.PARTNER, *HANDLE},
            request=per_role(
                lambda r: (
                    f"/v1/returns/{w.one(w.to_receive, r, confirmers)}/receive",
                    {"report_id": "R1", "lines": [{"sku": w.sku, "quantity": 1, "disposition": "restock"}]},
                )
            ),
        ),
        Route("GET", "/v1/exceptions", OPERATE),
        Route("GET", "/v1/alerts", OPERATE),
        Route("GET", "/v1/kpis", READ_ORDERS),
        Route("GET", "/v1/kpis/definitions", READ_ORDERS),
        Route(
            "POST",
            "/v1/alerts/{alert_id}/acknowledge",
            HANDLE,
            request=per_role(lambda r: (f"/v1/alerts/{w.alert_id}/acknowledge", None)),
        ),
        Route(
            "POST",
            "/v1/pick-lists/{pick_list_id}/confirm",
            {Role.PARTNER, *HANDLE},
            202,
            per_role(lambda r: (f"/v1/pick-lists/{w.pick_lists[w.one(confirms, r, confirmers)]}/confirm", None)),
        ),
        Route(
            "PUT", "/v1/products/{sku}", ADMIN, request=per_role(lambda r: (product, {"name": "x", "unit_price": "10"}))
        ),
        Route("GET", "/v1/products/{sku}", OPERATE, request=per_role(lambda r: (product, None))),
        Route("GET", "/v1/products", OPERATE),
        Route("PUT", "/v1/inventory/{warehouse}/{sku}", ADMIN, request=per_role(lambda r: (stock, {"on_hand": 900}))),
        Route("GET", "/v1/inventory/{warehouse}/{sku}", OPERATE, request=per_role(lambda r: (stock, None))),
        Route("GET", "/v1/inventory", OPERATE),
        Route(
            "PUT",
            "/v1/warehouses/{code}",
            ADMIN,
            request=per_role(lambda r: ("/v1/warehouses/MAIN", {"name": "Main warehouse", "country": "CN"})),
        ),
        Route("GET", "/v1/warehouses/{code}", OPERATE, request=per_role(lambda r: ("/v1/warehouses/MAIN", None))),
        Route("GET", "/v1/warehouses", OPERATE),
        Route(
            "POST",
            "/v1/inventory/receipts",
            {Role.PARTNER, *ADMIN},
            201,
            per_role(
                lambda r: (
                    "/v1/inventory/receipts",
                    {"warehouse": "MAIN", "reference": f"ASN-{r.value}", "lines": [{"sku": w.sku, "quantity": 1}]},
                )
            ),
        ),
        Route(
            "GET",
            "/v1/products/{sku}/ledger",
            OPERATE,
            request=per_role(lambda r: (f"/v1/products/{w.sku}/ledger", None)),
        ),
        Route("POST", "/v1/api-keys", ADMIN, 201, body={"name": "new", "role": "viewer"}),
        Route("GET", "/v1/api-keys", ADMIN),
        Route(
            "DELETE",
            "/v1/api-keys/{key_id}",
            ADMIN,
            request=per_role(lambda r: (f"/v1/api-keys/{w.spare_key['key_id']}", None)),
        ),
        Route("GET", "/v1/audit", ADMIN),
        Route(
            "POST",
            "/v1/webhooks",
            ADMIN,
            201,
            body={"url": "http://127.0.0.1:9/x", "event_types": ["*"], "active": False},
        ),
        Route("GET", "/v1/webhooks", ADMIN),
        Route("GET", "/v1/webhooks/{subscription_id}", ADMIN, request=per_role(lambda r: (hook, None))),
        Route(
            "PATCH",
            "/v1/webhooks/{subscription_id}",
            ADMIN,
            request=per_role(lambda r: (hook, {"url": "http://127.0.0.1:9/moved"})),
        ),
        Route(
            "POST",
            "/v1/webhooks/{subscription_id}/rotate-secret",
            ADMIN,
            request=per_role(lambda r: (f"{hook}/rotate-secret", {"overlap_hours": 1})),
        ),
        Route(
            "DELETE",
            "/v1/webhooks/{subscription_id}",
            ADMIN,
            204,
            per_role(lambda r: (f"/v1/webhooks/{w.spare_webhook}", None)),
        ),
        Route(
            "GET",
            "/v1/webhooks/{subscription_id}/deliveries",
            ADMIN,
            request=per_role(lambda r: (f"{hook}/deliveries?status=failed", None)),
        ),
        Route(
            "POST",
            "/v1/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver",
            ADMIN,
            202,
            per_role(lambda r: (f"{hook}/deliveries/{w.dead_letter}/redeliver", None)),
        ),
        Route("GET", "/v1/events", OPERATE),
        Route(
            "POST",
            "/v1/partners",
            ADMIN,
            201,
            per_role(
                lambda r: (
                    "/v1/partners",
                    {"partner_id": unique("new").lower(), "name": "x", "kind": "carrier", "carrier": "orderflow-post"},
                )
            ),
        ),
        Route("GET", "/v1/partners", ADMIN),
        Route("POST", "/v1/rules", RULES, 201, body=draft),
        Route("GET", "/v1/rules", READ_RULES),
        Route("GET", "/v1/rules/{rule_id}", READ_RULES, request=per_role(lambda r: (rule, None))),
        Route("PUT", "/v1/rules/{rule_id}", RULES, request=per_role(lambda r: (rule, draft))),
        Route(
            "GET", "/v1/rules/{rule_id}/versions", READ_RULES, request=per_role(lambda r: (f"{rule}/versions", None))
        ),
        Route("GET", "/v1/rules/{rule_id}/firings", READ_RULES, request=per_role(lambda r: (f"{rule}/firings", None))),
        Route(
            "POST",
            "/v1/rules/{rule_id}/activate",
            RULES,
            request=per_role(lambda r: (f"/v1/rules/{w.spare_rule}/activate", None)),
        ),
        Route(
            "POST",
            "/v1/rules/{rule_id}/archive",
            RULES,
            request=per_role(lambda r: (f"/v1/rules/{w.doomed_rule}/archive", None)),
        ),
        Route("POST", "/v1/rules/simulate", RULES, body={"rule_id": w.rule_id, "last": 20}),
        Route("POST", "/v1/rules/test", RULES, body={"order": order_body({w.sku: 1})}),
        Route(
            "GET", "/v1/partners/{partner_id}", ADMIN, request=per_role(lambda r: (f"/v1/partners/{w.partner}", None))
        ),
        Route(
            "POST",
            "/v1/partners/{partner_id}/rotate-secret",
            ADMIN,
            request=per_role(lambda r: (f"/v1/partners/{w.partner}/rotate-secret", None)),
        ),
        Route("POST", "/v1/inbound", PURCHASE, 201, per_role(lambda r: ("/v1/inbound", w.inbound_body()))),
        Route("GET", "/v1/inbound", OPERATE),
        Route("GET", "/v1/inbound/{inbound_id}", OPERATE, request=per_role(lambda r: (inbound, None))),
        Route("PATCH", "/v1/inbound/{inbound_id}", PURCHASE, request=per_role(lambda r: (inbound, moved))),
        Route("GET", "/v1/forecasts", OPERATE),
        Route("POST", "/v1/forecasts/runs", ADMIN, 202),
        Route("GET", "/v1/stock/projections", OPERATE),
        Route("GET", "/v1/stock/alerts", OPERATE),
        Route("GET", "/v1/replenishment", OPERATE),
        Route(
            "POST",
            "/v1/replenishment/reorder",
            PURCHASE,
            201,
            per_role(lambda r: ("/v1/replenishment/reorder", {**reorder, "reference": unique("RO")})),
        ),
        Route(
            "POST",
            "/v1/partners/{partner_id}/deactivate",
            ADMIN,
            request=per_role(lambda r: (f"/v1/partners/{w.partner}/deactivate", None)),
        ),
    ]


async def send(stack: Stack, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    if isinstance(body, bytes):
        return await stack.http.request(method, path, files={"file": ("orders.csv", body)}, headers=headers)
    return await stack.http.request(method, path, json=body, headers=headers)


async def test_every_route_answers_every_role_as_declared(stack_factory: StackFactory, sqlite_url: str) -> None:
    """401 without a key, 403 for a role the route does not admit (404 for a channel key on another
    channel's order), 2xx for every role it does."""
    settings = {
        "backorder_window_hours": 0,
        "channel_policies": {"b2b": {"allow_partial_shipment": True}},
    }
    async with stack_factory(sqlite_url, mode=WarehouseMode.MANUAL, **settings) as stack:
        world = World(stack)
        await world.build()
        matrix = routes(world)

        declared = {
            (method, r.path): role_checks(r.dependant)[0].roles
            for r in api_routes(create_app(stack.settings))
            if r.path not in PUBLIC_PATHS and not r.path.startswith((SIGNED_PREFIX, CONSOLE_PREFIX))
            for method in r.methods or ()
        }
        assert {(r.method, r.template): r.admits for r in matrix} == declared, "the matrix must cover every route"

        outcomes: dict[tuple[str, str, str], int] = {}
        for route in matrix:
            for role in route.admits:
                route.sent[role] = await route.request(role) if route.request else (route.template, route.body)
            anyone = route.sent[Role.ADMIN]
            nobody = await send(stack, route.method, anyone[0], anyone[1], {"Authorization": ""})
            outcomes[(route.method, route.template, "no key")] = nobody.status_code
            assert nobody.status_code == 401 and nobody.headers["www-authenticate"] == "Bearer", route.template
            for role in ALL_ROLES:
                if role in route.admits:
                    continue
                path, body = anyone
                answer = await send(stack, route.method, path, body, stack.as_role(role))
                outcomes[(route.method, route.template, role.value)] = answer.status_code
                foreign_order = role is Role.CHANNEL and path.startswith("/v1/orders/")
                assert answer.status_code == (404 if foreign_order else 403), (route.template, role, answer.text)
            for role in sorted(route.admits, key=ALL_ROLES.index):
                path, body = route.sent[role]
                answer = await send(stack, route.method, path, body, stack.as_role(role))
                outcomes[(route.method, route.template, role.value)] = answer.status_code
                assert answer.status_code == route.ok, (route.template, role, answer.text)
        await stack.http.delete(f"/v1/webhooks/{world.webhook}")  # the test database is shared: no stray subscriber
        health = await stack.http.get("/healthz", headers={"Authorization": ""})
        assert health.status_code == 200
        # Signed by a partner instead: no key of any role gets through without the signature.
        for role in ALL_ROLES:
            callback = await stack.http.post(
                f"/v1/callbacks/{world.partner}", json={"id": "e1"}, headers=stack.as_role(role)
            )
            assert callback.status_code == 401, (role, callback.text)
        assert len(outcomes) == len(matrix) * (len(ALL_ROLES) + 1)


async def test_a_channel_key_stays_in_its_channel(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, mode=WarehouseMode.MANUAL) as stack:
        sku = unique("CH")
        await stock_up(stack.sessions, {sku: 10})
        web = stack.as_role(Role.CHANNEL)
        own = (await stack.http.post("/v1/orders", json=order_body({sku: 1}), headers=web)).json()["order_id"]
        other = (await stack.http.post("/v1/orders", json=order_body({sku: 1}, channel="market"))).json()["order_id"]
        await stack.wait_for_status(own, "picking")
        await stack.wait_for_status(other, "picking")

        assert (await stack.http.get(f"/v1/orders/{own}", headers=web)).status_code == 200
        for order_id in (other, "market-NEVER-SUBMITTED"):  # the same answer whether it exists or not
            hidden = await stack.http.get(f"/v1/orders/{order_id}", headers=web)
            assert hidden.status_code == 404 and hidden.json()["detail"] == f"order {order_id} does not exist"
            cancel = await stack.http.post(f"/v1/orders/{order_id}/cancel", json={"reason": "x"}, headers=web)
            assert cancel.status_code == 404
        assert (await stack.http.post(f"/v1/orders/{own}/cancel", json={"reason": "x"}, headers=web)).status_code == 403

        listed = (await stack.http.get("/v1/orders", params={"limit": 200}, headers=web)).json()["items"]
        assert own in [o["order_id"] for o in listed] and {o["channel"] for o in listed} == {"web"}
        asked = await stack.http.get("/v1/orders", params={"channel": "market"}, headers=web)
        assert asked.json()["items"] == []

        foreign = await stack.http.post("/v1/orders", json=order_body({sku: 1}, channel="market"), headers=web)
        assert foreign.status_code == 403 and foreign.json()["errors"][0]["field"] == "channel"
        assert (await stack.http.get(f"/v1/inventory/MAIN/{sku}", headers=web)).status_code == 403


async def test_a_key_revoked_elsewhere_is_refused_once_this_process_forgets_it(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    """Revoked by `orderflow-keys` or another API process: this process believed the key for at most
    `api_key_cache_seconds` (docs/security.md), and refuses it after that."""
    async with stack_factory(sqlite_url, api_key_cache_seconds=1) as stack:
        secret = await make_key(stack.sessions, Role.VIEWER)
        assert (await stack.http.get("/v1/orders", headers=bearer(secret))).status_code == 200
        async with stack.sessions.begin() as s:
            key = await keys.authenticate(s, secret)
            assert key is not None
            await keys.revoke(s, key.key_id)
        assert (await stack.http.get("/v1/orders", headers=bearer(secret))).status_code == 200  # still believed
        await asyncio.sleep(1.1)
        refused = await stack.http.get("/v1/orders", headers=bearer(secret))
        assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
        assert (await stack.http.get("/v1/orders")).status_code == 200  # other keys are not affected


async def test_a_revoked_key_is_refused_on_its_next_request(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url) as stack:
        created = await stack.http.post("/v1/api-keys", json={"name": "temp", "role": "viewer"})
        assert created.status_code == 201
        key = created.json()
        assert key["key"].startswith("of_") and key["role"] == "viewer" and key["revoked_at"] is None
        assert (await stack.http.get("/v1/orders", headers=bearer(key["key"]))).status_code == 200

        revoked = await stack.http.delete(f"/v1/api-keys/{key['key_id']}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        refused = await stack.http.get("/v1/orders", headers=bearer(key["key"]))
        assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"

        listed = (await stack.http.get("/v1/api-keys", params={"include_revoked": "true", "limit": 200})).json()
        entry = next(k for k in listed["items"] if k["key_id"] == key["key_id"])
        assert "key" not in entry and entry["revoked_at"] is not None
        active = (await stack.http.get("/v1/api-keys", params={"limit": 200})).json()["items"]
        assert key["key_id"] not in [k["key_id"] for k in active]

        async with stack.sessions() as s:
            own = await keys.authenticate(s, stack.keys[Role.ADMIN])
        assert own is not None
        assert (await stack.http.delete(f"/v1/api-keys/{own.key_id}")).status_code == 409  # no self-lockout
        assert (await stack.http.delete("/v1/api-keys/k_nope")).status_code == 404
        bad = await stack.http.post("/v1/api-keys", json={"name": "x", "role": "channel"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "channel"
        for garbage in ("", "Bearer", "Bearer of_nope", "Basic dXNlcjpwYXNz", f"Bearer {key['key']}x"):
            assert (await stack.http.get("/v1/orders", headers={"Authorization": garbage})).status_code == 401
