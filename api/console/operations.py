"""Stock (levels per warehouse, a SKU's ledger with its receipts) and integrations (webhooks, failed
deliveries with redeliver), through the API's own route functions and role rules."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from api.access import Admin, OrderSubmitter
from api.console.common import forbidden_page, forbidden_result, refused_result, render, roles_of
from api.console.sessions import PREFIX, Person
from api.deps import SessionDep, SessionsDep, SettingsDep, TemporalDep
from api.problems import ProblemError, problem_of
from api.routers import catalog as catalog_routes
from api.routers import imports as import_routes
from api.routers import warehouses as warehouse_routes
from api.routers import webhooks as webhook_routes
from domain.events import DELIVERY_FAILED
from gateway.errors import GatewayError

router = APIRouter(prefix=PREFIX, include_in_schema=False)

# As the API: stock is read by handlers and viewers (api/routers/catalog.py READERS), webhooks by admins.
STOCK_READERS = frozenset(catalog_routes.READERS)
ADMINS = roles_of(Admin).roles
IMPORTERS = roles_of(OrderSubmitter).roles  # as POST /v1/orders/import: channel keys (their channel) and admins
UPLOAD_PATH = f"{PREFIX}/import"


@router.get("/stock")
async def stock_page(
    request: Request,
    me: Person,
    session: SessionDep,
    warehouse: Annotated[str, Query(max_length=32)] = "",
    sku: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    if not me.may(STOCK_READERS):
        return forbidden_page(request, me)
    levels = await catalog_routes.list_stock(session, 200, warehouse or None, None)
    ledger = None
    if sku:
        try:
            ledger = await warehouse_routes.stock_ledger(sku, session, warehouse or None, None, 200)
        except ProblemError:
            ledger = None
    return render(request, "stock.html", me, levels=levels, ledger=ledger, warehouse=warehouse, sku=sku)


@router.get("/integrations")
async def integrations_page(request: Request, me: Person, session: SessionDep) -> HTMLResponse:
    if not me.may(ADMINS):
        return forbidden_page(request, me)
    hooks = await webhook_routes.list_webhooks(me, session, 100, None)
    failed = {
        hook.subscription_id: (
            await webhook_routes.list_deliveries(hook.subscription_id, me, session, 50, DELIVERY_FAILED, None)
        ).items
        for hook in hooks.items
    }
    return render(request, "integrations.html", me, hooks=hooks.items, failed=failed)


@router.post("/integrations/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    request: Request,
    subscription_id: Annotated[str, Path(max_length=160)],
    delivery_id: Annotated[str, Path(max_length=160)],
    me: Person,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> HTMLResponse:
    if not me.may(ADMINS):
        return forbidden_result(request, me)
    try:
        await webhook_routes.redeliver(subscription_id, delivery_id, me, session, temporal, settings)
    except (ProblemError, GatewayError) as refused:
        return refused_result(request, me, refused)
    return render(request, "_result.html", me, ok=True, message_key="result.redelivering", detail="")


@router.get("/import")
async def import_page(request: Request, me: Person) -> HTMLResponse:
    if not me.may(IMPORTERS):
        return forbidden_page(request, me)
    return render(request, "import.html", me)


@router.post("/import")
async def import_upload(
    request: Request, me: Person, temporal: TemporalDep, sessions: SessionsDep, settings: SettingsDep
) -> HTMLResponse:
    """The spreadsheet goes through POST /v1/orders/import's own function; its row report shows in place."""
    if not me.may(IMPORTERS):
        return forbidden_result(request, me)
    try:
        report = await import_routes.import_orders(
            me, temporal, sessions, settings, Response(), request, settings.max_page_size, wait=10
        )
    except (ProblemError, GatewayError) as refused:
        problems = "; ".join(f"{e.field}: {e.message}" for e in problem_of(refused).errors or [])
        return refused_result(request, me, refused, problems)
    return render(request, "_import_report.html", me, report=report)
