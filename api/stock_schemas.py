"""Catalog and stock bodies: products, stock levels, warehouses, receipts and the stock ledger."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import MAX_LINES, Currency, Decimal, Money, Sku, StockLineOut, Strict, Text


class ProductIn(Strict):
    name: Text
    unit_price: Decimal
    currency: Currency | None = Field(default=None, description="defaults to the deployment's currency")
    active: bool = True


class ProductOut(BaseModel):
    sku: str
    name: str
    unit_price: Money
    active: bool
    updated_at: datetime


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None


class StockIn(Strict):
    on_hand: Annotated[int, Field(ge=0, le=10**9)]


class StockOut(BaseModel):
    warehouse: str
    sku: str
    on_hand: int
    reserved: int
    available: int
    updated_at: datetime


class WarehouseIn(Strict):
    name: Text
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = Field(description="ISO 3166-1 alpha-2")
    region: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None
    priority: Annotated[int, Field(ge=0, le=10_000, description="lower ships first")] = 100


class WarehouseOut(BaseModel):
    code: str
    name: str
    country: str
    region: str | None
    priority: int


class ReceiptLineIn(Strict):
    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=10**9)]


class ReceiptIn(Strict):
    warehouse: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)] = Field(
        description="the delivery note or ASN; a receipt with the same reference is recorded once"
    )
    lines: Annotated[list[ReceiptLineIn], Field(min_length=1, max_length=MAX_LINES)]
    inbound_id: Annotated[str, StringConstraints(pattern=r"^IB-[0-9A-F]{12}$")] | None = Field(
        None,
        description="the inbound this receipt delivers (fully or partly); "
        "without it, an open inbound of the same warehouse and reference",
    )


class ReceiptOut(BaseModel):
    receipt_id: int
    warehouse: str
    reference: str
    lines: list[StockLineOut]
    received_at: datetime
    restock_workflow_id: str = Field(description="wakes the orders waiting for these SKUs, rush first, then oldest")
    inbound_id: str | None = None
    inbound_status: str | None = Field(None, description="the inbound's status after this receipt")


class LedgerEntryOut(BaseModel):
    id: int
    warehouse: str
    sku: str
    kind: str
    on_hand_change: int
    reserved_change: int
    reason: str
    reference: str
    occurred_at: datetime


class LedgerPage(BaseModel):
    items: list[LedgerEntryOut]
    next_cursor: str | None


class StockPage(BaseModel):
    items: list[StockOut]
    next_cursor: str | None
