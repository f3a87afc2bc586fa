"""Invoicing: one invoice per shipment, numbered in sequence, or by an external ERP."""

from dataclasses import dataclass
from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.money import format_minor
from domain.orders import TimelineEntry
from domain.returns import BilledLine
from domain.steps import InvoiceIssued, IssueInvoice, KeyedEntry, ProjectOrder
from store import fulfilment, orders
from store.sql import utcnow

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CreditNoteRequest:
    """A refund's credit note, for the ERP: the returned units against the invoices that billed them."""

    return_id: str
    order_id: str
    currency: str
    lines: list[BilledLine]

    @property
    def amount(self) -> int:
        return sum(line.quantity * line.unit_price for line in self.lines)


class ExternalLedger(Protocol):
    async def invoice_number(self, invoice_key: str, req: IssueInvoice) -> str:
        """Issue the invoice in the ERP; answers its number. The same invoice_key again answers the same number."""
        ...

    async def credit_note_number(self, credit_note_key: str, req: CreditNoteRequest) -> str:
        """Issue the credit note in the ERP; answers its number. The same key again answers the same number."""
        ...


class BillingActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], erp: ExternalLedger | None = None) -> None:
        self._sessions = sessions
        self._erp = erp

    @activity.defn(name="issue_invoice")
    async def issue_invoice(self, req: IssueInvoice) -> InvoiceIssued:
        """Invoice the order and close it."""
        key = f"{req.allocation_id}:invoice"
        with structlog.contextvars.bound_contextvars(order_id=req.order_id):
            number = None
            if self._erp is not None:
                async with self._sessions() as s:
                    issued = await fulfilment.invoice_for(s, key)
                # An invoice an earlier attempt recorded keeps its number; the ERP is asked only once it is not.
                if issued is None:
                    number = await self._erp.invoice_number(key, req)
            async with self._sessions.begin() as s:
                invoice, _ = await fulfilment.issue_invoice(
                    s,
                    key,
                    req.order_id,
                    req.amount,
                    req.currency,
                    req.lines,
                    req.shipment_id,
                    number=number,
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
