"""Return rules, pure: what may come back, what a receipt must say, and what a refund is worth."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.money import format_minor, to_minor
from domain.order_state import Refusal
from domain.return_state import ReturnState
from domain.returns import (
    BilledLine,
    Disposition,
    NewReturn,
    ReceivedLine,
    RefundRefused,
    ReturnDecision,
    ReturnLine,
    ReturnPolicy,
    ReturnReceipt,
    ReturnStatus,
    ShippedLine,
    check_receipt,
    check_request,
    credit_lines,
    returnable,
)
from domain.steps import StockLine

T0 = datetime(2025, 3, 1, tzinfo=UTC)
WINDOW = timedelta(days=30)


def test_only_units_shipped_within_the_window_and_not_on_a_live_return_can_come_back() -> None:
    shipped = [
        ShippedLine("TEE", 2, T0, delivered_at=T0 + timedelta(days=3)),
        ShippedLine("TEE", 1, T0 - timedelta(days=40)),  # long ago, never reported delivered
        ShippedLine("CAP", 1, T0),
    ]
    now = T0 + timedelta(days=31)  # past 30 days from shipping, within 30 days of delivery
    assert returnable(shipped, [StockLine("TEE", 1)], now, WINDOW) == {"TEE": 1}
    problems = check_request(
        [ReturnLine("TEE", 2), ReturnLine("CAP", 1), ReturnLine("HAT", 1)], {"TEE": 1}, {"TEE", "CAP"}
    )
    assert [(p.field, p.message.split(" (")[0]) for p in problems] == [
        ("lines[0].quantity", "1 x TEE can be returned"),
        ("lines[1].quantity", "0 x CAP can be returned"),
        ("lines[2].sku", "HAT has not shipped on this order"),
    ]


@pytest.mark.parametrize(
    ("currency", "price", "refund"), [("JPY", "1980", "3960"), ("CNY", "19.99", "39.98"), ("KWD", "1.235", "2.470")]
)
def test_a_refund_credits_the_billed_price_exactly_in_every_currency(currency: str, price: str, refund: str) -> None:
    unit = to_minor(price, currency)
    billed = [BilledLine("INV-1", "TEE", 1, unit), BilledLine("INV-2", "TEE", 2, unit)]
    lines = credit_lines([StockLine("TEE", 2)], billed, credited=[])
    assert lines == [BilledLine("INV-1", "TEE", 1, unit), BilledLine("INV-2", "TEE", 1, unit)]
    assert format_minor(sum(line.quantity * line.unit_price for line in lines), currency) == refund


def test_a_refund_never_credits_more_than_was_billed_less_earlier_credit_notes() -> None:
    billed = [BilledLine("INV-1", "TEE", 2, 1000)]
    earlier = [BilledLine("INV-1", "TEE", 1, 1000)]
    assert credit_lines([StockLine("TEE", 1)], billed, earlier) == [BilledLine("INV-1", "TEE", 1, 1000)]
    with pytest.raises(RefundRefused, match="1 x TEE"):
        credit_lines([StockLine("TEE", 2)], billed, earlier)
    with pytest.raises(RefundRefused):
        credit_lines([StockLine("CAP", 1)], billed, [])


def test_a_receipt_accounts_for_every_requested_unit_and_nothing_more() -> None:
    requested = [ReturnLine("TEE", 2), ReturnLine("CAP", 1)]
    good = ReturnReceipt(
        "R1",
        [
            ReceivedLine("TEE", 1, Disposition.RESTOCK),
            ReceivedLine("TEE", 1, Disposition.DAMAGED),
            ReceivedLine("CAP", 1, Disposition.MISSING),
        ],
        "MAIN",
    )
    assert check_receipt(requested, good) == []
    short = ReturnReceipt("R2", [ReceivedLine("TEE", 3, Disposition.RESTOCK)], "MAIN")
    assert check_receipt(requested, short) == [
        "3 x TEE reported, 2 requested: report every unit, missing ones as missing",
        "0 x CAP reported, 1 requested: report every unit, missing ones as missing",
    ]


def test_a_return_is_decided_once_and_the_same_receipt_acts_once() -> None:
    policy = ReturnPolicy(receive_within_s=86400, refund_sla_s=3600)
    state = ReturnState.requested(NewReturn("RMA-1", "web-W-1", "CNY", [ReturnLine("TEE", 1)], "", "cs", policy), T0)
    receipt = ReturnReceipt("R1", [ReceivedLine("TEE", 1, Disposition.RESTOCK)], "MAIN")
    with pytest.raises(Refusal, match="only an approved return"):
        state.check_receipt(receipt)
    state.approve(T0, ReturnDecision("alice"), "orderflow-post-RET-RMA-1")
    with pytest.raises(Refusal, match="not waiting for a decision"):
        state.check_decision()
    assert state.check_receipt(receipt)
    state.received(T0, receipt)
    assert not state.check_receipt(receipt)  # the same report again: answered, not acted on
    with pytest.raises(Refusal):
        state.check_receipt(ReturnReceipt("R2", receipt.lines, "MAIN"))
    assert state.status is ReturnStatus.RECEIVED
    assert [e.event for e in state.view.events] == ["requested", "approved", "received"]
