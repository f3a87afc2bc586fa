"""The operations console in a real browser: sign-in per role, the live dashboard, the exception queue,
role and channel scoping, CSRF. Screenshots for the README are taken here (into docs/images/ with
ORDERFLOW_SCREENSHOTS=docs/images, else a temporary folder: tests/console/conftest.py)."""

import asyncio
import csv
import time
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from api.console.kpis import TILES
from api.importing import COLUMNS, EXAMPLE
from domain.access import Role
from tests.conftest import order_body, unique
from tests.console.conftest import Console

TRENDS = sum(1 for *_, daily in TILES if daily is not None)  # the tiles whose figure has a daily series

REJECTED_POSTCODE = "2000"  # the built-in carrier refuses it (address_rejected)


async def submit(console: Console, **extra: Any) -> str:
    body = order_body({"CON-TEE": 1}, **extra)
    response = await console.http.post("/v1/orders", json=body)
    assert response.status_code == 201, response.text
    order_id: str = response.json()["order_id"]
    return order_id


async def open_exception(console: Console, order_id: str, within: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        items = (await console.http.get("/v1/exceptions", params={"order_id": order_id})).json()["items"]
        if items:
            item: dict[str, Any] = items[0]
            return item
        assert time.monotonic() < deadline, f"no exception on {order_id}"
        await asyncio.sleep(0.05)


async def in_read_model(console: Console, order_id: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    external_id = order_id.partition("-")[2]
    while not (await console.http.get("/v1/orders", params={"external_id": external_id})).json()["items"]:
        assert time.monotonic() < deadline, f"{order_id} never reached the read model"
        await asyncio.sleep(0.05)


async def stock(console: Console) -> None:
    await console.http.put(
        "/v1/products/CON-TEE", json={"name": "Console tee", "unit_price": "10.00", "currency": "CNY"}
    )
    await console.http.put("/v1/inventory/MAIN/CON-TEE", json={"on_hand": 1000})


def rejected_address() -> dict[str, Any]:
    return {
        "ship_to": {
            "name": "Bo",
            "line1": "8 Huaihai Rd",
            "city": "Shanghai",
            "postal_code": REJECTED_POSTCODE,
            "country": "CN",
        }
    }


async def test_each_role_signs_in_and_sees_the_dashboard(console: Console) -> None:
    for role in (Role.ADMIN, Role.HANDLER, Role.VIEWER, Role.CHANNEL):
        context, page = await console.signed_in(role)
        await expect(page.locator(".me")).to_have_attribute("data-role", role.value)
        # The key figures arrive as their own fragment after the page: every tile, its three windows.
        await expect(page.locator("#kpi-tiles .tile")).to_have_count(7, timeout=20_000)
        await expect(page.locator('#kpi-tiles [data-kpi="touchless"] dd')).to_have_count(3)
        await expect(page.locator("#kpi-tiles .trend canvas")).to_have_count(TRENDS)
        await expect(page.locator("#risk-h")).to_be_visible()
        # Exceptions are for operators only, exactly as GET /v1/exceptions.
        await expect(page.locator("#open-h")).to_have_count(0 if role is Role.CHANNEL else 1)
        cookie = next(c for c in await context.cookies() if c["name"] == "orderflow_console")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["expires"] > time.time()
        await page.click("text=Sign out")
        await page.wait_for_url("**/console/login")
        await page.goto("/console/dashboard")
        await page.wait_for_url("**/console/login")  # the session ended with the sign-out
        await context.close()


async def test_exception_appears_live_and_is_resolved_from_the_queue(console: Console, screenshots: Path) -> None:
    await stock(console)
    context, page = await console.signed_in(Role.HANDLER)
    await expect(page.locator("#open-total")).to_be_visible()
    order_id = await submit(console, **rejected_address())
    exception = await open_exception(console, order_id)
    seen = time.monotonic()
    # Recorded: the dashboard, untouched since it loaded, shows it within 2 s.
    await expect(page.locator('#by-kind tr[data-kind="address_rejected"]')).to_be_visible(timeout=2000)
    assert time.monotonic() - seen < 2
    await page.reload()  # for the picture: key figures that count this order too
    await expect(page.locator("#kpi-tiles .trend canvas")).to_have_count(TRENDS, timeout=20_000)
    await page.screenshot(path=screenshots / "console-dashboard.png", full_page=True)

    await page.goto("/console/exceptions?kind=address_rejected")
    row = page.locator(f'tr[data-exception="{exception["exception_id"]}"]')
    await expect(row).to_be_visible()
    # Exactly the allowed actions: one button each.
    actions = await row.locator("button[data-action]").evaluate_all("bs => bs.map(b => b.dataset.action)")
    assert actions == exception["allowed_actions"]
    await page.screenshot(path=screenshots / "console-exceptions.png", full_page=True)
    await row.locator('button[data-action="change_address"]').click()
    form = row.locator("form.inline-form")
    for field, value in {
        "name": "Bo",
        "line1": "8 Huaihai Rd",
        "city": "Shanghai",
        "postal_code": "200020",
        "country": "CN",
    }.items():
        await form.locator(f'input[name="{field}"]').fill(value)
    await form.locator("button[type=submit]").click()
    await expect(row.locator('[data-outcome="ok"]')).to_be_visible(timeout=20_000)

    deadline = time.monotonic() + 30
    while (await console.http.get(f"/v1/orders/{order_id}")).json()["status"] != "completed":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    await page.goto(f"/console/orders/{order_id}")
    await expect(page.locator("#order-status")).to_have_text("completed")
    await expect(page.locator("#timeline")).to_contain_text("key:console-handler")
    await expect(page.locator(".tracking").first).not_to_have_text("—")
    href = await page.locator("#temporal-link").get_attribute("href")
    assert href is not None and href.endswith(f"/workflows/order-{order_id}")
    await page.screenshot(path=screenshots / "console-order.png", full_page=True)
    # The console's change is in the audit log under the person's key, like an API call.
    audit = (await console.http.get("/v1/audit", params={"order_id": order_id})).json()["items"]
    assert any(e["actor"] == "key:console-handler" and e["path"].startswith("/console/") for e in audit)
    await context.close()


async def test_a_second_try_shows_the_refusal_in_place(console: Console) -> None:
    await stock(console)
    order_id = await submit(console)
    deadline = time.monotonic() + 30
    while (await console.http.get(f"/v1/orders/{order_id}")).json()["status"] != "completed":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    context, page = await console.signed_in(Role.HANDLER)
    await page.goto(f"/console/orders/{order_id}")
    await expect(page.locator("#controls")).to_have_count(0)  # a finished order offers no controls
    # A control sent anyway (a stale page) gets the workflow's 409 reason, shown in place.
    token = await page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    response = await page.request.post(
        f"/console/orders/{order_id}/control/hold", form={"reason": "late"}, headers={"X-CSRF-Token": token}
    )
    assert response.status == 409
    assert "Refused" in await response.text()
    await context.close()


async def test_a_viewer_cannot_act(console: Console) -> None:
    await stock(console)
    order_id = await submit(console, **rejected_address())
    exception = await open_exception(console, order_id)
    context, page = await console.signed_in(Role.VIEWER)
    await page.goto("/console/exceptions")
    # The filters refresh the rows in place; "any" (an empty choice) is no filter.
    await page.select_option('select[name="kind"]', "pick_overdue")
    await expect(page.locator("#queue")).to_contain_text("Nothing in the queue matches.")
    await page.select_option('select[name="kind"]', "")
    row = page.locator(f'tr[data-exception="{exception["exception_id"]}"]')
    await expect(row).to_contain_text("read only")
    await expect(row.locator("button")).to_have_count(0)
    token = await page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    response = await page.request.post(
        f"/console/orders/{order_id}/exceptions/{exception['exception_id']}/resolve",
        form={"action": "cancel"},
        headers={"X-CSRF-Token": token},
    )
    assert response.status == 403
    view = (await console.http.get(f"/v1/orders/{order_id}")).json()
    assert view["status"] == "needs_attention"
    await context.close()


async def test_a_channel_user_cannot_see_another_channels_order(console: Console) -> None:
    await stock(console)
    other = await submit(console, channel="market", external_id=unique("M"))
    own = await submit(console)
    context, page = await console.signed_in(Role.CHANNEL)
    response = await page.goto(f"/console/orders/{other}")
    assert response is not None and response.status == 404
    await expect(page.locator("h1")).to_have_text("No such order.")
    await page.goto("/console/orders?channel=market")
    await expect(page.locator("#orders")).to_have_count(0)
    await page.goto("/console/orders")
    await expect(page.locator("#orders")).to_contain_text(own)
    await expect(page.locator("#orders")).not_to_contain_text(other)
    response = await page.goto("/console/exceptions")
    assert response is not None and response.status == 403
    await context.close()


async def test_orders_are_found_by_customer_id_email_or_name_in_any_case(console: Console) -> None:
    await stock(console)
    marker = unique("C")
    customer = {"id": marker, "name": f"Zhang {marker}", "email": f"{marker}@Example.com"}
    mine = await submit(console, customer=customer)
    other = await submit(console)
    await in_read_model(console, mine)
    await in_read_model(console, other)
    context, page = await console.signed_in(Role.HANDLER)
    for search in (marker, customer["email"].lower(), customer["name"].upper()):
        await page.goto("/console/orders")
        await page.fill('input[name="customer"]', search)
        await page.click("form.filters button[type=submit]")
        await expect(page.locator("#orders tbody tr")).to_have_count(1)
        await expect(page.locator("#orders")).to_contain_text(mine)
    await context.close()


async def test_a_forged_request_without_the_csrf_token_is_refused(console: Console) -> None:
    await stock(console)
    order_id = await submit(console, **rejected_address())
    exception = await open_exception(console, order_id)
    context, page = await console.signed_in(Role.HANDLER)
    # Another site's form posting into the console: the session cookie goes along, the token does not.
    response = await page.request.post(
        f"/console/orders/{order_id}/exceptions/{exception['exception_id']}/resolve", form={"action": "cancel"}
    )
    assert response.status == 403
    response = await page.request.post(
        f"/console/orders/{order_id}/control/cancel", form={"reason": "x"}, headers={"X-CSRF-Token": "forged"}
    )
    assert response.status == 403
    view = (await console.http.get(f"/v1/orders/{order_id}")).json()
    assert view["status"] == "needs_attention"
    assert all(e["resolved_at"] is None for e in view["exceptions"])
    await context.close()


async def test_chinese_from_the_browser_language(console: Console) -> None:
    context, page = await console.signed_in(Role.ADMIN, locale="zh-CN")
    await expect(page.locator("h1")).to_have_text("总览")
    await page.click("text=English")
    await expect(page.locator("h1")).to_have_text("Dashboard")
    await context.close()


async def test_stock_and_integrations_follow_the_api_roles(console: Console) -> None:
    await stock(console)
    context, page = await console.signed_in(Role.VIEWER)
    await page.goto("/console/stock?sku=CON-TEE")
    await expect(page.locator("#levels")).to_contain_text("CON-TEE")
    await expect(page.locator("#ledger")).to_be_visible()
    response = await page.goto("/console/integrations")  # webhooks are for admins, as GET /v1/webhooks
    assert response is not None and response.status == 403
    await context.close()
    context, page = await console.signed_in(Role.CHANNEL)
    response = await page.goto("/console/stock")
    assert response is not None and response.status == 403
    await context.close()
    context, page = await console.signed_in(Role.ADMIN)
    response = await page.goto("/console/integrations")
    assert response is not None and response.status == 200
    await context.close()


async def test_a_channel_user_imports_a_spreadsheet_and_sees_its_row_report(console: Console, tmp_path: Path) -> None:
    await stock(console)
    good, bad = unique("IMP"), unique("IMP")
    rows = [
        {**EXAMPLE, "external_id": good, "sku": "CON-TEE", "quantity": "2"},
        {**EXAMPLE, "external_id": bad, "sku": "NO-SUCH-SKU", "quantity": "1"},
    ]
    sheet = tmp_path / "orders.csv"
    with sheet.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    context, page = await console.signed_in(Role.CHANNEL)
    await page.goto("/console/import")
    await page.set_input_files('input[name="file"]', str(sheet))
    await page.click("#import-form button[type=submit]")
    report = page.locator("#report")
    await expect(report).to_be_visible(timeout=20_000)
    await expect(report.locator('tr[data-outcome="invalid"]')).to_contain_text("NO-SUCH-SKU")
    await expect(report.locator("tr", has_text=good)).to_be_visible()
    assert (await console.http.get(f"/v1/orders/web-{good}")).status_code == 200
    assert (await console.http.get(f"/v1/orders/web-{bad}")).status_code == 404
    await context.close()
