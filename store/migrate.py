"""Schema migrations (Alembic) and the demo seed. `orderflow-migrate [--seed-demo]`."""

import argparse
import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import select

from config import configure_logging, get_settings
from domain.money import to_minor
from store import catalog, inventory
from store.db import create_engine, create_sessions
from store.tables import Product

HERE = Path(__file__).parent

DEMO_PRODUCTS = [
    ("TEE-BLK-M", "T-shirt, black, M", "49.00", 100),
    ("TEE-WHT-L", "T-shirt, white, L", "49.00", 100),
    ("MUG-OF", "orderflow mug", "29.90", 50),
    ("CAP-NAVY", "Cap, navy", "39.00", 25),
    ("POSTER-A2", "Poster A2 (limited)", "15.00", 2),
]


def alembic_config(url: str) -> Config:
    cfg = Config(str(HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Bring the schema to head. Blocking: call it before the event loop or via asyncio.to_thread."""
    command.upgrade(alembic_config(url), "head")


async def seed_demo(url: str, warehouse: str, currency: str = "CNY") -> bool:
    """Put a small catalog and stock in an empty database; False if there was a catalog already."""
    engine = create_engine(url)
    try:
        async with create_sessions(engine).begin() as s:
            if (await s.execute(select(Product.sku).limit(1))).first() is not None:
                return False
            await catalog.ensure_warehouse(s, warehouse, "Main warehouse")
            for sku, name, price, on_hand in DEMO_PRODUCTS:
                await catalog.put_product(s, sku, name, to_minor(price, currency), currency, True)
                await inventory.count(s, warehouse, sku, on_hand, "demo stock")
        return True
    finally:
        await engine.dispose()


async def ensure_default_warehouse(url: str, warehouse: str, country: str = "CN") -> None:
    engine = create_engine(url)
    try:
        async with create_sessions(engine).begin() as s:
            await catalog.ensure_warehouse(s, warehouse, "Default warehouse", country)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description="Migrate the orderflow database to the latest schema.")
    parser.add_argument("--seed-demo", action="store_true", help="add the demo catalog and stock if empty")
    args = parser.parse_args()
    settings = get_settings()
    configure_logging(settings)
    url = settings.resolved_database_url
    if not settings.database_url:  # the embedded SQLite file lives in the data directory
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    asyncio.run(ensure_default_warehouse(url, settings.default_warehouse, settings.default_warehouse_country))
    if args.seed_demo and asyncio.run(seed_demo(url, settings.default_warehouse, settings.default_currency)):
        print("seeded the demo catalog and stock")


if __name__ == "__main__":
    main()
