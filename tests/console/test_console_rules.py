"""The rules editor in a real browser: a rules editor writes a gift rule (the condition checked as it is
typed), simulates it over recent orders, activates it, and the next order carries the gift; only rule
editors see edit controls, as the API's /v1/rules roles."""

import re
from pathlib import Path

from playwright.async_api import expect

from domain.access import Role
from tests.conftest import order_body, unique
from tests.console.conftest import Console
from tests.console.test_console_browser import in_read_model, stock

GIFT = "CON-GIFT"


async def submit_for(console: Console, customer_id: str) -> str:
    customer = {"id": customer_id, "name": "Gift Customer", "email": "gift@example.com"}
    response = await console.http.post("/v1/orders", json=order_body({"CON-TEE": 1}, customer=customer))
    assert response.status_code == 201, response.text
    order_id: str = response.json()["order_id"]
    return order_id


async def test_a_gift_rule_is_written_simulated_activated_and_the_next_order_gets_the_gift(
    console: Console, screenshots: Path
) -> None:
    await stock(console)
    await console.http.put("/v1/products/CON-GIFT", json={"name": "Gift mug", "unit_price": "0.00", "currency": "CNY"})
    await console.http.put("/v1/inventory/MAIN/CON-GIFT", json={"on_hand": 100})
    customer = unique("VIP")
    earlier = await submit_for(console, customer)
    await in_read_model(console, earlier)

    context, page = await console.signed_in(Role.RULES_EDITOR)
    await page.goto("/console/rules")
    await page.click("#new-rule")
    await page.fill("#rule-name", f"Gift for {customer}")
    when = page.locator("#rule-when")
    check = page.locator("#when-check")
    # As typed: the save-time compiler's message at its position (column 10 is the unknown field).
    await when.fill(f'customer.idd == "{customer}"')
    await expect(check.locator('[data-check="error"]')).to_have_attribute("data-kind", "unknown_field")
    await expect(check).to_contain_text("line 1, column 10")
    await expect(check.locator("mark")).to_have_text("i")
    await when.fill(f'customer.id == "{customer}" &&')
    await expect(check.locator('[data-check="error"]')).to_have_attribute("data-kind", "syntax")
    await when.fill(f'customer.id == "{customer}"')
    await expect(check.locator('[data-check="ok"]')).to_be_visible()
    await page.locator('#actions [data-field="sku"]').fill(GIFT)
    # A second action: added blank, switched to a tag (its fields follow the type), and a third removed.
    await page.click("#add-action")
    await page.click("#add-action")
    await expect(page.locator("#actions .action")).to_have_count(3)
    await page.locator("#actions .action").nth(2).locator("[data-remove]").click()
    await page.locator('#actions .action >> nth=1 >> [data-field="type"]').select_option("tag")
    await page.locator('#actions [data-field="tags"]').fill("vip-gift")
    await expect(page.locator("#actions .action")).to_have_count(2)

    await page.click("#simulate")
    simulation = page.locator("#simulation .simulation")
    await expect(simulation).to_have_attribute("data-matched", "1")
    await expect(page.locator("#sim-examples")).to_have_text(earlier)
    await expect(page.locator("#sim-gifts")).to_contain_text(GIFT)
    await page.screenshot(path=screenshots / "console-rules.png", full_page=True)

    await page.click("#save")
    await page.wait_for_url(re.compile(r".*/console/rules/\d+$"))
    rule_id = int(page.url.rsplit("/", 1)[1])
    await expect(page.locator("#rule-status")).to_have_text("draft")
    await page.click("#activate")
    await expect(page.locator("#rule-status")).to_have_text("active")

    # A second version is a draft beside the active one, and its diff says what changed.
    await page.locator('#actions [data-field="quantity"]').fill("2")
    await page.click("#save")
    await expect(page.locator('#versions tr[data-version="2"]')).to_contain_text("draft")
    await expect(page.locator('#versions tr[data-version="2"] .diff .add')).to_contain_text('"quantity": 2')
    await expect(page.locator('#versions tr[data-version="2"] .diff .del')).to_contain_text('"quantity": 1')
    await context.close()

    try:
        order_id = await submit_for(console, customer)
        await in_read_model(console, order_id)
        context, page = await console.signed_in(Role.ADMIN)
        await page.goto(f"/console/orders/{order_id}")
        gift = page.locator("#lines tr[data-gift]")
        await expect(gift).to_contain_text(GIFT)
        await expect(gift.locator("td").nth(1)).to_have_text("1")  # version 1 runs: version 2 is a draft
        await expect(page.locator("#order-rules")).to_contain_text(f"{rule_id}@1")
        await expect(page.locator("#order-tags")).to_contain_text("vip-gift")
        await context.close()
    finally:
        await console.http.post(f"/v1/rules/{rule_id}/archive")


async def test_only_rule_editors_see_and_use_edit_controls(console: Console) -> None:
    created = await console.http.post(
        "/v1/rules",
        json={"name": unique("Tag"), "when": 'order.channel == "nowhere"', "then": [{"type": "tag", "tags": ["t"]}]},
    )
    rule_id = created.json()["rule_id"]
    context, page = await console.signed_in(Role.HANDLER)
    await page.goto(f"/console/rules/{rule_id}")
    await expect(page.locator("#rule-when-text")).to_have_text('order.channel == "nowhere"')
    await expect(page.locator("#rule-form")).to_have_count(0)
    await expect(page.locator("#activate")).to_have_count(0)
    token = await page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    refused = await page.request.post(f"/console/rules/{rule_id}/activate", headers={"X-CSRF-Token": token})
    assert refused.status == 403
    assert (await console.http.get(f"/v1/rules/{rule_id}")).json()["status"] == "draft"
    response = await page.goto("/console/rules/new")
    assert response is not None and response.status == 403
    await context.close()
    context, page = await console.signed_in(Role.CHANNEL)
    response = await page.goto("/console/rules")  # as GET /v1/rules: not for channel keys
    assert response is not None and response.status == 403
    await context.close()
