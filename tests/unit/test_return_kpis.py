"""The return rate, on hand-built facts."""

from domain.return_kpis import ReturnFacts, Shipped, return_rate


def test_only_units_that_came_back_count_and_nothing_shipped_is_no_rate() -> None:
    rate = return_rate(
        Shipped(orders=4, units=20),
        [
            ReturnFacts("A", "closed", 3, {"restock": 2, "missing": 1}),
            ReturnFacts("A", "received", 1, {"damaged": 1}),
            ReturnFacts("B", "closed", 1, {"missing": 1}),  # nothing came back: not a returned order
            ReturnFacts("C", "declined", 5),
            ReturnFacts("D", "approved", 2),
        ],
    )
    assert (rate.units_returned, rate.rate) == (3, 0.15)
    assert (rate.orders_returned, rate.order_rate) == (1, 0.25)
    assert rate.by_disposition == {"damaged": 1, "missing": 2, "restock": 2}
    assert rate.pending_units == 2
    empty = return_rate(Shipped(), [])
    assert (empty.rate, empty.order_rate, empty.units_returned) == (None, None, 0)
