"""The tables, one module per concept. Importing this package registers every table on `Base.metadata`,
which Alembic (store/migrations/env.py) and the schema test compare against the migrations."""

from store.tables.access import ApiKey, AuditEntry, ConsoleSession, IdempotencyRecord
from store.tables.base import Base
from store.tables.catalog import Backorder, Product, Receipt, Reservation, Stock, StockMove, Warehouse
from store.tables.events import EventRow, WebhookDeliveryRow, WebhookSubscription
from store.tables.foresight import DemandDay, ForecastRow, InboundLineRow, InboundRow, ProjectionRow, StockAlertRow
from store.tables.imports import ImportOrderRow, ImportRow
from store.tables.kpis import KPI_COUNTS
from store.tables.orders import (
    AlertRow,
    Invoice,
    OrderEvent,
    OrderExceptionRow,
    OrderLineRow,
    OrderRow,
    PickList,
    Shipment,
    StepResult,
)
from store.tables.partners import InboundEvent, PartnerRow
from store.tables.returns import CreditNote, ReturnRow
from store.tables.rules import RuleFiringRow, RuleRow, RuleVersionRow

__all__ = [
    "KPI_COUNTS",
    "AlertRow",
    "ApiKey",
    "AuditEntry",
    "Backorder",
    "Base",
    "ConsoleSession",
    "CreditNote",
    "DemandDay",
    "EventRow",
    "ForecastRow",
    "IdempotencyRecord",
    "ImportOrderRow",
    "ImportRow",
    "InboundEvent",
    "InboundLineRow",
    "InboundRow",
    "Invoice",
    "OrderEvent",
    "OrderExceptionRow",
    "OrderLineRow",
    "OrderRow",
    "PartnerRow",
    "PickList",
    "Product",
    "ProjectionRow",
    "Receipt",
    "Reservation",
    "ReturnRow",
    "RuleFiringRow",
    "RuleRow",
    "RuleVersionRow",
    "Shipment",
    "StepResult",
    "Stock",
    "StockAlertRow",
    "StockMove",
    "Warehouse",
    "WebhookDeliveryRow",
    "WebhookSubscription",
]
