"""Products, warehouses and stock levels as set up by people (and seeded for the demo)."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.sql import insert_ignore, utcnow
from store.tables import Product, Stock, Warehouse


async def products_by_sku(session: AsyncSession, skus: list[str]) -> dict[str, Product]:
    result = await session.execute(select(Product).where(Product.sku.in_(skus)))
    return {p.sku: p for p in result.scalars()}


async def put_product(
    session: AsyncSession, sku: str, name: str, unit_price: int, currency: str, active: bool
) -> tuple[Product, bool]:
    product = await session.get(Product, sku)
    created = product is None
    if product is None:
        product = Product(sku=sku)
        session.add(product)
    product.name, product.unit_price, product.currency, product.active = name, unit_price, currency, active
    product.updated_at = utcnow()
    await session.flush()
    return product, created


async def list_products(session: AsyncSession, after: str | None, limit: int) -> list[Product]:
    query = select(Product).order_by(Product.sku).limit(limit)
    if after:
        query = query.where(Product.sku > after)
    return list((await session.execute(query)).scalars())


async def ensure_warehouse(session: AsyncSession, code: str, name: str, country: str = "CN") -> None:
    """The warehouse, created in `country` unless it exists (an existing one keeps its country)."""
    row = {"code": code, "name": name, "country": country}
    await insert_ignore(session, Warehouse.__table__, [row])  # type: ignore[arg-type]


async def warehouse_exists(session: AsyncSession, code: str) -> bool:
    return await session.get(Warehouse, code) is not None


async def put_warehouse(
    session: AsyncSession, code: str, name: str, country: str, region: str | None, priority: int
) -> tuple[Warehouse, bool]:
    warehouse = await session.get(Warehouse, code)
    created = warehouse is None
    if warehouse is None:
        warehouse = Warehouse(code=code)
        session.add(warehouse)
    warehouse.name, warehouse.country, warehouse.region, warehouse.priority = name, country, region, priority
    await session.flush()
    return warehouse, created


async def get_warehouse(session: AsyncSession, code: str) -> Warehouse | None:
    return await session.get(Warehouse, code)


async def list_warehouses(session: AsyncSession) -> list[Warehouse]:
    return list((await session.execute(select(Warehouse).order_by(Warehouse.priority, Warehouse.code))).scalars())


async def get_stock(session: AsyncSession, warehouse: str, sku: str) -> Stock | None:
    return await session.get(Stock, (warehouse, sku))


async def list_stock(session: AsyncSession, warehouse: str | None, after: str | None, limit: int) -> list[Stock]:
    query = select(Stock).order_by(Stock.warehouse, Stock.sku).limit(limit)
    if warehouse:
        query = query.where(Stock.warehouse == warehouse)
    if after:
        w, _, s = after.partition("/")
        query = query.where((Stock.warehouse > w) | ((Stock.warehouse == w) & (Stock.sku > s)))
    return list((await session.execute(query)).scalars())
