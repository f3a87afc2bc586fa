"""Invoicing: one invoice per shipment, numbered in sequence."""

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.money import format_minor
from domain.orders import TimelineEntry
from domain.steps import InvoiceIssued, IssueInvoice, KeyedEntry, ProjectOrder
from store import fulfilment, orders
from store.sql import utcnow

log = structlog.get_logger(__name__)


class BillingActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name="issue_invoice")
    async def issue_invoice(self, req: IssueInvoice) -> InvoiceIssued:
        """Invoice the order and close it."""
        with structlog.contextvars.bound_contextvars(order_id=req.order_id):
            async with self._sessions.begin() as s:
                invoice, _ = await fulfilment.issue_invoice(
                    s,
                    f"{req.allocation_id}:invoice",
                    req.order_id,
                    req.amount,
                    req.currency,
                    req.lines,
                    req.shipment_id,
                )
                assert invoice.number is not None
                amount = f"{invoice.number} {format_minor(invoice.amount, invoice.currency)} {invoice.currency}"
                entry = TimelineEntry(utcnow(), req.status, "invoiced", amount)
                await orders.project(
                    s,
                    ProjectOrder(req.order_id, req.status, [KeyedEntry(f"invoiced:{invoice.key}", entry)], seq=req.seq),
                )
            log.info("invoice issued", invoice_number=invoice.number)
            return InvoiceIssued(invoice.number, invoice.amount, invoice.currency)
