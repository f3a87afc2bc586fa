"""/v1/inbound: stock on its way (purchase orders, ASNs). A goods receipt against one closes it."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from api.access import Operator, require
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.foresight_schemas import InboundIn, InboundLineOut, InboundOut, InboundPage, InboundPatch
from api.problems import Problem, ProblemError, invalid, not_found
from domain.access import Principal, Role
from domain.inbound_eta import InboundNotice
from domain.orders import InvalidField
from domain.steps import StockLine
from gateway import starts
from store import catalog
from store import inbound as inbound_store
from store.inbound import Inbound

router = APIRouter(prefix="/v1/inbound", tags=["inbound stock"])

Purchaser = Annotated[Principal, Depends(require(Role.HANDLER, Role.PARTNER))]
InboundIdPath = Annotated[str, Path(pattern=r"^IB-[0-9A-F]{12}$")]
RESPONSES: dict[int | str, dict[str, Any]] = {404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}}


def inbound_out(inbound: Inbound) -> InboundOut:
    r = inbound.row
    return InboundOut(
        inbound_id=r.inbound_id,
        reference=r.reference,
        warehouse=r.warehouse,
        expected_at=r.expected_at,
        status=r.status,
        source=r.source,
        created_by=r.created_by,
        created_at=r.created_at,
        received_at=r.received_at,
        lines=[InboundLineOut(sku=line.sku, quantity=line.quantity, received=line.received) for line in inbound.lines],
    )


async def tell_waiting_orders(
    session: SessionDep, temporal: TemporalDep, settings: SettingsDep, inbound: Inbound
) -> None:
    """The change is committed, then the orders backordered on the inbound's SKUs are told: each reads
    what is now expected for it and warns when that comes after its ship-by (docs/foresight.md)."""
    notice = InboundNotice(inbound.row.inbound_id, [line.sku for line in inbound.lines])
    version = inbound.row.updated_at.strftime("%Y%m%dT%H%M%S%f")
    await session.commit()
    await starts.start_inbound_notice(temporal, settings.task_queue, notice, version)


async def check_lines(session: SessionDep, warehouse: str, skus: list[str]) -> None:
    """The warehouse and every SKU exist, each SKU once: else 422 naming the field."""
    problems = []
    if not await catalog.warehouse_exists(session, warehouse):
        problems.append(InvalidField("warehouse", f"warehouse {warehouse} does not exist"))
    known = await catalog.products_by_sku(session, skus)
    seen: set[str] = set()
    for i, sku in enumerate(skus):
        if sku not in known:
            problems.append(InvalidField(f"lines[{i}].sku", f"{sku} is not in the catalog"))
        elif sku in seen:
            problems.append(InvalidField(f"lines[{i}].sku", f"{sku} is on an earlier line"))
        seen.add(sku)
    if problems:
        raise invalid(problems)


async def create_inbound(
    session: SessionDep,
    warehouse: str,
    reference: str,
    expected_at: datetime,
    lines: list[StockLine],
    source: str,
    actor: str,
) -> tuple[Inbound, bool]:
    inbound, created = await inbound_store.create(session, warehouse, reference, expected_at, lines, source, actor)
    if not created and inbound_store.fingerprint(inbound) != sorted((line.sku, line.quantity) for line in lines):
        raise ProblemError(
            409,
            "Inbound exists",
            f"{warehouse} has inbound {reference} already, with other lines ({inbound.row.inbound_id})",
            [InvalidField("reference", "used already in this warehouse")],
        )
    return inbound, created


@router.post("", status_code=201, responses={200: {"model": InboundOut}, **RESPONSES})
async def announce_inbound(
    body: InboundIn,
    caller: Purchaser,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    response: Response,
) -> InboundOut:
    """Stock expected at a warehouse. The same reference sent again answers 200 with the first; with
    other lines, 409. Orders backordered on its SKUs are told."""
    await check_lines(session, body.warehouse, [line.sku for line in body.lines])
    lines = [StockLine(line.sku, line.quantity) for line in body.lines]
    inbound, created = await create_inbound(
        session, body.warehouse, body.reference, body.expected_at, lines, "manual", caller.actor
    )
    await tell_waiting_orders(session, temporal, settings, inbound)
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/v1/inbound/{inbound.row.inbound_id}"
    return inbound_out(inbound)


@router.get("", responses={422: {"model": Problem}})
async def list_inbound(
    _: Operator,
    session: SessionDep,
    status: Annotated[str | None, Query(pattern="^(open|partly_received|received|closed|open_any)$")] = None,
    warehouse: Annotated[str | None, Query(max_length=32)] = None,
    sku: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=80, pattern=r"^[^|]+\|IB-[0-9A-F]{12}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> InboundPage:
    """Soonest expected first. `status=open_any`: open or partly received."""
    after = None
    if cursor:
        at, inbound_id = cursor.split("|")
        try:
            after = (datetime.fromisoformat(at), inbound_id)
        except ValueError:
            raise invalid([InvalidField("cursor", "not a cursor this API gave out")]) from None
    found = await inbound_store.page(session, status, warehouse, sku, limit + 1, after)
    last = found[limit - 1].row if len(found) > limit else None
    return InboundPage(
        items=[inbound_out(i) for i in found[:limit]],
        next_cursor=f"{last.expected_at.isoformat()}|{last.inbound_id}" if last else None,
    )


@router.get("/{inbound_id}", responses=RESPONSES)
async def get_inbound(inbound_id: InboundIdPath, _: Operator, session: SessionDep) -> InboundOut:
    inbound = await inbound_store.get(session, inbound_id)
    if inbound is None:
        raise not_found(f"inbound {inbound_id}")
    return inbound_out(inbound)


@router.patch("/{inbound_id}", responses=RESPONSES)
async def change_inbound(
    inbound_id: InboundIdPath,
    body: InboundPatch,
    _: Purchaser,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> InboundOut:
    """A new expected date, or `status: closed` when the rest is not coming. Received or closed
    inbound does not change (409). Orders backordered on its SKUs are told."""
    inbound = await inbound_store.get(session, inbound_id, for_update=True)
    if inbound is None:
        raise not_found(f"inbound {inbound_id}")
    if body.expected_at is None and body.status is None:
        raise invalid([InvalidField("expected_at", "give expected_at or status")])
    if inbound.row.status not in inbound_store.OPEN_STATUSES:
        raise ProblemError(409, f"Inbound is {inbound.row.status}", f"{inbound_id} is {inbound.row.status}")
    if body.expected_at is not None:
        await inbound_store.reschedule(session, inbound, body.expected_at)
    if body.status == "closed":
        await inbound_store.close(session, inbound)
    await tell_waiting_orders(session, temporal, settings, inbound)
    return inbound_out(inbound)
