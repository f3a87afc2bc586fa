"""/v1/warehouses, goods receipts and the stock ledger."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from api.access import require
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.problems import Problem, invalid, not_found
from api.schemas import StockLineOut
from api.stock_schemas import LedgerEntryOut, LedgerPage, ReceiptIn, ReceiptOut, WarehouseIn, WarehouseOut
from domain.access import Role
from domain.orders import SKU_PATTERN, InvalidField
from domain.steps import Restock, StockLine
from gateway import starts
from store import catalog, inventory
from store import inbound as inbound_store
from store.tables import Warehouse

router = APIRouter(tags=["warehouses and stock"])

READERS = (Role.HANDLER, Role.VIEWER)

CodePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
RESPONSES: dict[int | str, dict[str, Any]] = {404: {"model": Problem}, 422: {"model": Problem}}


def _warehouse_out(w: Warehouse) -> WarehouseOut:
    return WarehouseOut(code=w.code, name=w.name, country=w.country, region=w.region, priority=w.priority)


@router.put(
    "/v1/warehouses/{code}",
    status_code=201,
    responses={200: {"model": WarehouseOut}, **RESPONSES},
    dependencies=[Depends(require())],
)
async def put_warehouse(code: CodePath, body: WarehouseIn, session: SessionDep, response: Response) -> WarehouseOut:
    warehouse, created = await catalog.put_warehouse(session, code, body.name, body.country, body.region, body.priority)
    if not created:
        response.status_code = 200
    return _warehouse_out(warehouse)


@router.get("/v1/warehouses/{code}", responses=RESPONSES, dependencies=[Depends(require(*READERS))])
async def get_warehouse(code: CodePath, session: SessionDep) -> WarehouseOut:
    warehouse = await catalog.get_warehouse(session, code)
    if warehouse is None:
        raise not_found(f"warehouse {code}")
    return _warehouse_out(warehouse)


@router.get("/v1/warehouses", dependencies=[Depends(require(*READERS))])
async def list_warehouses(session: SessionDep) -> list[WarehouseOut]:
    return [_warehouse_out(w) for w in await catalog.list_warehouses(session)]


@router.post(
    "/v1/inventory/receipts",
    status_code=201,
    responses={200: {"model": ReceiptOut}, **RESPONSES},
    dependencies=[Depends(require(Role.PARTNER))],  # the warehouse reports what arrived
)
async def receive_goods(
    body: ReceiptIn, session: SessionDep, temporal: TemporalDep, settings: SettingsDep, response: Response
) -> ReceiptOut:
    """Goods received into a warehouse. Orders backordered on these SKUs are woken, rush first, then oldest.
    A receipt with a reference already recorded for that warehouse answers 200 with the original."""
    if not await catalog.warehouse_exists(session, body.warehouse):
        raise not_found(f"warehouse {body.warehouse}")
    known = await catalog.products_by_sku(session, [line.sku for line in body.lines])
    unknown = [
        InvalidField(f"lines[{i}].sku", f"{line.sku} is not in the catalog")
        for i, line in enumerate(body.lines)
        if line.sku not in known
    ]
    if unknown:
        raise invalid(unknown)
    lines = [StockLine(line.sku, line.quantity) for line in body.lines]
    try:
        expected = await inbound_store.against(session, body.warehouse, body.reference, body.inbound_id)
    except LookupError as err:
        raise invalid([InvalidField("inbound_id", str(err))]) from None
    receipt, created = await inventory.receive(session, body.warehouse, lines, body.reference)
    if created and expected is not None:
        await inbound_store.apply_receipt(session, expected, lines)
    await session.commit()  # the goods are on the books before anyone is woken
    if not created:
        response.status_code = 200
    # Its business key as the source: a resend wakes nobody twice. Waiting orders wake rush first, then oldest.
    source = f"receipt-{receipt.warehouse}-{receipt.reference}"
    restock = Restock(source, receipt.warehouse, sorted({line["sku"] for line in receipt.lines}))
    workflow_id = await starts.start_restock(temporal, settings.task_queue, restock)
    return ReceiptOut(
        receipt_id=receipt.receipt_id,
        warehouse=receipt.warehouse,
        reference=receipt.reference,
        lines=[StockLineOut(**line) for line in receipt.lines],
        received_at=receipt.received_at,
        restock_workflow_id=workflow_id,
        inbound_id=expected.row.inbound_id if expected else None,
        inbound_status=expected.row.status if expected else None,
    )


@router.get("/v1/products/{sku}/ledger", responses=RESPONSES, dependencies=[Depends(require(*READERS))])
async def stock_ledger(
    sku: Annotated[str, Path(pattern=SKU_PATTERN)],
    session: SessionDep,
    warehouse: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> LedgerPage:
    """Every change to the SKU's stock, oldest first: receipts, counts, reservations, releases, shipments."""
    moves = await inventory.ledger(session, sku, warehouse, cursor, limit + 1)
    return LedgerPage(
        items=[
            LedgerEntryOut(
                id=m.id,
                warehouse=m.warehouse,
                sku=m.sku,
                kind=m.kind,
                on_hand_change=m.on_hand_change,
                reserved_change=m.reserved_change,
                reason=m.reason,
                reference=m.reference,
                occurred_at=m.occurred_at,
            )
            for m in moves[:limit]
        ],
        next_cursor=str(moves[limit - 1].id) if len(moves) > limit else None,
    )
