"""One return's bookkeeping while its workflow runs: where it stands and what may be done to it.
Pure, like `OrderState`: a request that does not apply raises `Refusal` (answered as 409)."""

from dataclasses import dataclass
from datetime import datetime

from domain.order_state import rejected
from domain.returns import (
    NewReturn,
    ReturnDecision,
    ReturnEvent,
    ReturnReceipt,
    ReturnStatus,
    ReturnView,
    check_receipt,
)


@dataclass(eq=False)
class ReturnState:
    view: ReturnView
    receipt: ReturnReceipt | None = None  # the report that acted
    refund_failed: str = ""  # why the billing adapter refused the credit note, for a person

    @classmethod
    def requested(cls, new: NewReturn, now: datetime) -> "ReturnState":
        detail = ", ".join(f"{line.quantity} x {line.sku}" for line in new.lines)
        event = ReturnEvent(now, "requested", f"{detail}. {new.note}".strip(". "), new.requested_by)
        return cls(ReturnView(new.return_id, new.order_id, ReturnStatus.REQUESTED, list(new.lines), events=[event]))

    @property
    def status(self) -> ReturnStatus:
        return self.view.status

    def note(self, now: datetime, status: ReturnStatus, event: str, detail: str = "", actor: str = "system") -> None:
        self.view.status = status
        self.view.events.append(ReturnEvent(now, event, detail, actor))

    def check_decision(self) -> None:
        if self.status is not ReturnStatus.REQUESTED:
            raise rejected(f"the return is {self.status.value}; it is not waiting for a decision")

    def approve(self, now: datetime, decision: ReturnDecision, label: str) -> None:
        self.view.label = label
        self.note(now, ReturnStatus.APPROVED, "approved", decision.note, decision.actor)

    def decline(self, now: datetime, decision: ReturnDecision) -> None:
        self.note(now, ReturnStatus.DECLINED, "declined", decision.note, decision.actor)

    def check_receipt(self, receipt: ReturnReceipt) -> bool:
        """True when this receipt should act; False when the same report acted already."""
        if self.receipt is not None and self.receipt.report_id == receipt.report_id:
            return False
        if self.status is not ReturnStatus.APPROVED:
            raise rejected(f"the return is {self.status.value}; only an approved return can be received")
        problems = check_receipt(self.view.lines, receipt)
        if problems:
            raise rejected("; ".join(problems))
        return True

    def received(self, now: datetime, receipt: ReturnReceipt) -> None:
        self.receipt = receipt
        self.view.received = list(receipt.lines)
        detail = ", ".join(f"{line.quantity} x {line.sku} {line.disposition.value}" for line in receipt.lines)
        self.note(now, ReturnStatus.RECEIVED, "received", detail, receipt.received_by)
