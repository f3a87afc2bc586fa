"""/v1/products and /v1/inventory: what can be sold and how much of it is where."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from api.access import require
from api.deps import ActiveProductsDep, SessionDep, SettingsDep, TemporalDep
from api.limits import PageLimit
from api.problems import Problem, ProblemError, invalid, not_found
from api.schemas import Money
from api.stock_schemas import ProductIn, ProductOut, ProductPage, StockIn, StockOut, StockPage
from domain.access import Role
from domain.money import MoneyError, to_minor
from domain.orders import SKU_PATTERN, InvalidField
from domain.steps import Restock
from gateway import starts
from store import catalog, inventory
from store.tables import Product, Stock

router = APIRouter(tags=["catalog"])
# Channels see neither: catalog and stock are read by the people who run fulfilment; admins change them.
READERS = (Role.HANDLER, Role.VIEWER)

SkuPath = Annotated[str, Path(pattern=SKU_PATTERN)]
WarehousePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


def _product_out(p: Product) -> ProductOut:
    return ProductOut(
        sku=p.sku,
        name=p.name,
        unit_price=Money.of(p.unit_price, p.currency),
        active=p.active,
        updated_at=p.updated_at,
    )


def _stock_out(s: Stock) -> StockOut:
    return StockOut(
        warehouse=s.warehouse,
        sku=s.sku,
        on_hand=s.on_hand,
        reserved=s.reserved,
        available=s.on_hand - s.reserved,
        updated_at=s.updated_at,
    )


@router.put(
    "/v1/products/{sku}",
    responses={200: {"model": ProductOut}, 422: {"model": Problem}},
    status_code=201,
    dependencies=[Depends(require())],
)
async def put_product(
    sku: SkuPath,
    body: ProductIn,
    session: SessionDep,
    settings: SettingsDep,
    active_products: ActiveProductsDep,
    response: Response,
) -> ProductOut:
    currency = body.currency or settings.default_currency
    try:
        price = to_minor(body.unit_price, currency)
    except MoneyError as err:
        raise invalid([InvalidField("unit_price", str(err))]) from None
    product, created = await catalog.put_product(session, sku, body.name, price, currency, body.active)
    active_products.forget([sku])  # this process's submissions see the change at once
    if not created:
        response.status_code = 200
    return _product_out(product)


@router.get("/v1/products/{sku}", responses={404: {"model": Problem}}, dependencies=[Depends(require(*READERS))])
async def get_product(sku: SkuPath, session: SessionDep) -> ProductOut:
    products = await catalog.products_by_sku(session, [sku])
    if sku not in products:
        raise not_found(f"product {sku}")
    return _product_out(products[sku])


@router.get("/v1/products", dependencies=[Depends(require(*READERS))])
async def list_products(
    session: SessionDep, limit: PageLimit, cursor: Annotated[str | None, Query(max_length=64)] = None
) -> ProductPage:
    rows = await catalog.list_products(session, cursor, limit + 1)
    return ProductPage(
        items=[_product_out(p) for p in rows[:limit]],
        next_cursor=rows[limit - 1].sku if len(rows) > limit else None,
    )


@router.put(
    "/v1/inventory/{warehouse}/{sku}",
    responses={404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}},
    dependencies=[Depends(require())],
)
async def put_stock(
    warehouse: WarehousePath,
    sku: SkuPath,
    body: StockIn,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> StockOut:
    """A stock count: sets on-hand quantity. It cannot go below what is reserved."""
    if not await catalog.warehouse_exists(session, warehouse):
        raise not_found(f"warehouse {warehouse}")
    if not await catalog.products_by_sku(session, [sku]):
        raise not_found(f"product {sku}")
    before = await catalog.get_stock(session, warehouse, sku)
    had = before.on_hand if before else 0
    try:
        stock = await inventory.count(session, warehouse, sku, body.on_hand, "stock count")
    except ValueError as err:
        raise ProblemError(409, "Stock is reserved", str(err), [InvalidField("on_hand", str(err))]) from None
    if stock.on_hand > had:
        await session.commit()  # counted up: orders waiting for this SKU may now be served
        restock = Restock(f"count-{uuid.uuid4().hex}", warehouse, [sku])
        await starts.start_restock(temporal, settings.task_queue, restock)
    return _stock_out(stock)


@router.get(
    "/v1/inventory/{warehouse}/{sku}", responses={404: {"model": Problem}}, dependencies=[Depends(require(*READERS))]
)
async def get_stock(warehouse: WarehousePath, sku: SkuPath, session: SessionDep) -> StockOut:
    stock = await catalog.get_stock(session, warehouse, sku)
    if stock is None:
        raise not_found(f"stock of {sku} in {warehouse}")
    return _stock_out(stock)


@router.get("/v1/inventory", dependencies=[Depends(require(*READERS))])
async def list_stock(
    session: SessionDep,
    limit: PageLimit,
    warehouse: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> StockPage:
    rows = await catalog.list_stock(session, warehouse, cursor, limit + 1)
    last = rows[limit - 1] if len(rows) > limit else None
    return StockPage(
        items=[_stock_out(s) for s in rows[:limit]],
        next_cursor=f"{last.warehouse}/{last.sku}" if last else None,
    )
