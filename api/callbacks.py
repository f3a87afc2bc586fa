"""Signed partner callbacks: who sent it, what it says, and acting on it once.

A callback carries no API key: `Orderflow-Signature` (domain/signing) signs the timestamp and the raw
body with the partner's secret. An unknown or inactive partner, a bad signature and a stale timestamp
all get the same 401, so the answer says nothing about which partners exist.
"""

import time
import uuid
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api import returning
from api.partner_schemas import (
    DATA_MODELS,
    CallbackIn,
    DeliveredData,
    DeliveryFailedData,
    PickConfirmedData,
    ReturnReceivedData,
)
from api.problems import ProblemError, field_path, invalid, not_found
from domain.contract import Update
from domain.deliveries import UPDATES, CallbackType, Partner, ShipmentReport
from domain.orders import InvalidField, OrderStatus, TimelineEntry
from domain.returns import ReceivedLine, ReturnReceipt
from domain.signing import BadSignature, verify
from domain.steps import KeyedEntry, PickConfirmation, ProjectOrder
from gateway import orders as gateway
from store import deliveries, fulfilment, orders, partners
from store.db import READ_ONLY
from store.tables import OrderRow

log = structlog.get_logger(__name__)

PREFIX = "/v1/callbacks/"
# Verified against when the partner is unknown, so every refusal costs the same.
_NO_SECRET = "psec_" + uuid.uuid4().hex


def unauthorized() -> ProblemError:
    return ProblemError(
        401,
        "Unauthorized",
        "the request is not signed with an active partner's secret within the last 5 minutes "
        "(Orderflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>)",
    )


async def authenticate(
    sessions: async_sessionmaker[AsyncSession], partner_id: str, header: str | None, body: bytes
) -> Partner:
    async with sessions() as s:
        await s.connection(execution_options=READ_ONLY)
        row = await partners.active(s, partner_id)
    try:
        verify(row.secret if row else _NO_SECRET, header, body, now=time.time())
    except BadSignature as err:
        log.warning("callback refused", partner_id=partner_id, reason=str(err))
        raise unauthorized() from None
    if row is None:
        log.warning("callback refused", partner_id=partner_id, reason="unknown or inactive partner")
        raise unauthorized()
    return partners.partner_of(row)


def parse(body: bytes) -> tuple[CallbackIn, Any]:
    """The envelope and its `data` for its type; 422 naming the field at fault."""
    try:
        event = CallbackIn.model_validate_json(body)
        data = DATA_MODELS[event.type].model_validate(event.data)
    except ValidationError as err:
        in_data = "event" in locals()
        invalid_fields = [
            InvalidField(
                "body" if e["type"] == "json_invalid" else field_path(("data", *e["loc"]) if in_data else e["loc"]),
                e["msg"],
            )
            for e in err.errors()
        ]
        raise invalid(invalid_fields) from None
    return event, data


async def apply(
    temporal: Client,
    sessions: async_sessionmaker[AsyncSession],
    partner: Partner,
    event: CallbackIn,
    data: Any,
) -> str:
    """Act on the event; the order it concerned. Safe to repeat: every step is idempotent."""
    if isinstance(data, PickConfirmedData):
        return await _confirm_pick(temporal, sessions, partner, data)
    if isinstance(data, ReturnReceivedData):
        return await _receive_return(temporal, sessions, partner, event, data)
    async with sessions() as s:
        shipment = await deliveries.get_shipment(s, data.shipment_id)
    if shipment is None or not partner.speaks_for_carrier(shipment.carrier):
        raise not_found(f"shipment {data.shipment_id}")
    detail = ""
    if isinstance(data, DeliveredData):
        detail = data.received_by or ""
    elif isinstance(data, DeliveryFailedData):
        detail = data.reason
    ref = f"{partner.partner_id}:{event.id}"
    report = ShipmentReport(data.shipment_id, event.occurred_at, detail, partner.actor, ref)
    if not await gateway.report_shipment(temporal, shipment.order_id, UPDATES[event.type], report, ref):
        await _report_closed(sessions, shipment.order_id, event.type, report)
    return shipment.order_id


async def _confirm_pick(
    temporal: Client, sessions: async_sessionmaker[AsyncSession], partner: Partner, data: PickConfirmedData
) -> str:
    async with sessions() as s:
        pick_list = await fulfilment.get_pick_list(s, data.pick_list_id)
    if pick_list is None or not partner.speaks_for_warehouse(pick_list.warehouse):
        raise not_found(f"pick list {data.pick_list_id}")
    if pick_list.state == "cancelled":
        raise ProblemError(409, "Pick list is cancelled", f"{data.pick_list_id} is cancelled: its order was cancelled")
    if pick_list.state == "open":  # confirmed already: an earlier send took effect
        confirmation = PickConfirmation(data.pick_list_id, data.picked_by or partner.actor)
        await gateway.confirm_pick(temporal, pick_list.order_id, confirmation)
    return pick_list.order_id


async def _receive_return(
    temporal: Client,
    sessions: async_sessionmaker[AsyncSession],
    partner: Partner,
    event: CallbackIn,
    data: ReturnReceivedData,
) -> str:
    """The same receive as `POST /v1/returns/{id}/receive`, with the event ID as the report's ID: the
    event sent again acts once. Only for a return of an order that shipped from one of the partner's
    warehouses, and into one of them; anything else is 404, as if the return did not exist."""
    order_id = await returning.receivable_by(sessions, partner, data.return_id, data.warehouse)
    if order_id is None:
        raise not_found(f"return {data.return_id} at warehouse {data.warehouse}")
    receipt = ReturnReceipt(
        event.id,
        [ReceivedLine(line.sku, line.quantity, line.disposition) for line in data.lines],
        data.warehouse,
        data.received_by or partner.actor,
    )
    await returning.control(temporal, sessions, data.return_id, Update.RECEIVE_RETURN, receipt, f"receive:{event.id}")
    return order_id


async def _report_closed(
    sessions: async_sessionmaker[AsyncSession], order_id: str, kind: CallbackType, report: ShipmentReport
) -> None:
    """The order's workflow has closed (an older order, or its delivery window passed): record a handover
    or delivery on the shipment and the read model directly. A failed delivery has nobody left to
    handle it in orderflow: 409, so the partner takes it to people."""
    if kind is CallbackType.DELIVERY_FAILED:
        raise ProblemError(
            409,
            "Order is closed",
            f"order {order_id} no longer waits for delivery reports; settle the failed delivery of "
            f"{report.shipment_id} with operations directly",
        )
    async with sessions.begin() as s:
        # Locked: two late reports of one order's shipments must not each miss the other's delivery.
        row = await s.get(OrderRow, order_id, with_for_update=True)
        if row is None or row.status == OrderStatus.CANCELLED.value:
            raise ProblemError(409, "Order is closed", f"order {order_id} is not waiting for deliveries")
        if kind is CallbackType.DELIVERED:
            first = await deliveries.mark_delivered(s, report.shipment_id, report.at, report.detail or None)
            event = "delivered"
        else:
            first = await deliveries.mark_handed_over(s, report.shipment_id, report.at)
            event = "handed_to_carrier"
        if not first:
            return
        progress = await deliveries.progress_of(s, order_id)
        status = OrderStatus.DELIVERED if progress.all_delivered else OrderStatus(row.status)
        received = f" to {report.detail}" if kind is CallbackType.DELIVERED and report.detail else ""
        entry = TimelineEntry(report.at, status, event, f"{report.shipment_id}{received}", report.actor)
        change = ProjectOrder(
            order_id,
            status,
            [KeyedEntry(f"{deliveries.LATE}{event}:{report.shipment_id}", entry)],
            seq=row.status_seq + 1,
        )
        await orders.project(s, change)


async def record(
    sessions: async_sessionmaker[AsyncSession], partner: Partner, event: CallbackIn, fingerprint: str, order_id: str
) -> None:
    async with sessions.begin() as s:
        await partners.record_event(
            s, partner.partner_id, event.id, event.type.value, fingerprint, order_id, event.occurred_at
        )
