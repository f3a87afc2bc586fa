"""Returns: record what the return's workflow decides, restock what came back through the ledger, and
refund it with a credit note against the order's invoices — issued by the ERP when one is configured
(`ORDERFLOW_ERP_URL`), keyed `{return_id}:refund` like our own record of it."""

from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.billing import CreditNoteRequest, ExternalLedger
from domain.contract import ErrorType
from domain.returns import BilledLine, RefundRefused, ReturnView, credit_lines
from domain.steps import StockLine
from store import inventory, returns
from store.tables import OrderRow

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RestockReturn:
    view: ReturnView  # as it is once received
    warehouse: str
    report_id: str
    restock: list[StockLine]


@dataclass(frozen=True)
class RefundReturn:
    return_id: str
    order_id: str
    currency: str
    lines: list[StockLine]  # the units to refund


@dataclass(frozen=True)
class Refunded:
    credit_note: str
    amount: int


class ReturnActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], erp: ExternalLedger | None = None) -> None:
        self._sessions = sessions
        self._erp = erp

    @activity.defn(name="record_return")
    async def record_return(self, view: ReturnView) -> None:
        async with self._sessions.begin() as s:
            await returns.write(s, view)

    @activity.defn(name="restock_return")
    async def restock_return(self, req: RestockReturn) -> None:
        """Restocked units go back on hand: a receipt in the ledger whose reason names the return and whose
        reference is "{return_id}:{report_id}", so one report restocks once."""
        reference = f"{req.view.return_id}:{req.report_id}"
        async with self._sessions.begin() as s:
            if req.restock:
                await inventory.receive(
                    s, req.warehouse, req.restock, reference, reason=f"returned ({req.view.return_id})"
                )
            await returns.write(s, req.view)
        log.info("return received", return_id=req.view.return_id, restocked=len(req.restock))

    @activity.defn(name="refund_return")
    async def refund_return(self, req: RefundReturn) -> Refunded:
        """Credit the returned units at the prices they were invoiced at. Refused (not retried) when that
        would credit more than the order's invoices billed less earlier credit notes.

        With an ERP the credit note's lines are recorded first, under the order's lock and numbered
        `PENDING-…` (they count as credited from then on, so no other refund of the order takes the same
        units), and the ERP is asked outside any transaction — with the same key and lines on every
        retry — for the number it then carries. An ERP that refuses it (not retried) takes the pending
        note back with it: nothing is credited that the ERP did not issue."""
        async with self._sessions.begin() as s:
            note = await returns.credit_note_of(s, req.return_id)
            if note is None:
                await s.get(OrderRow, req.order_id, with_for_update=True)  # one refund of an order at a time
                try:
                    lines = credit_lines(
                        req.lines, await returns.billed(s, req.order_id), await returns.credited(s, req.order_id)
                    )
                except RefundRefused as refused:
                    raise ApplicationError(
                        str(refused), type=ErrorType.REFUND_REFUSED.value, non_retryable=True
                    ) from None
                pending = self._erp is not None
                note = await returns.issue_credit_note(s, req.return_id, req.order_id, req.currency, lines, pending)
            number, amount, lines = note.number, note.amount, [BilledLine(**line) for line in note.lines]
        if returns.is_pending(number):
            number = await self._issue_in_erp(req, lines)
        log.info("credit note issued", return_id=req.return_id, credit_note=number, amount=amount)
        return Refunded(number, amount)

    async def _issue_in_erp(self, req: RefundReturn, lines: list[BilledLine]) -> str:
        if self._erp is None:
            raise ApplicationError(
                f"the credit note of {req.return_id} waits for an ERP that is no longer configured",
                type=ErrorType.PARTNER_REJECTED.value,
                non_retryable=True,
            )
        key = returns.credit_note_key(req.return_id)
        try:
            number = await self._erp.credit_note_number(
                key, CreditNoteRequest(req.return_id, req.order_id, req.currency, lines)
            )
        except ApplicationError as err:
            if err.non_retryable:
                async with self._sessions.begin() as s:
                    await returns.withdraw_pending(s, req.return_id)
            raise
        async with self._sessions.begin() as s:
            await returns.number_credit_note(s, req.return_id, number)
        return number
