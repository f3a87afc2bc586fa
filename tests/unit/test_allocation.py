from domain.allocation import FulfilmentPolicy, Plan, Site, plan
from domain.orders import Address
from domain.steps import StockLine

SHANGHAI = Address("Li Wei", "88 Century Ave", "Shanghai", "200120", "CN", region="SH")
SITES = [
    Site("BJ", "CN", "BJ", priority=1),
    Site("SH", "CN", "SH", priority=5),
    Site("HK", "HK", None, priority=3),
]
SPLIT = FulfilmentPolicy(allow_split=True, allow_partial=False)
NO_SPLIT = FulfilmentPolicy(allow_split=False, allow_partial=False)
PARTIAL = FulfilmentPolicy(allow_split=False, allow_partial=True)


def lines(**qty: int) -> list[StockLine]:
    return [StockLine(sku, q) for sku, q in qty.items()]


def shipments(result: Plan) -> list[tuple[str, list[tuple[str, int]]]]:
    return [(s.warehouse, [(line.sku, line.quantity) for line in s.lines]) for s in result.shipments]


def test_one_warehouse_in_the_ship_to_region_wins_over_priority() -> None:
    stock = {"BJ": {"A": 5, "B": 5}, "SH": {"A": 5, "B": 5}}
    result = plan(lines(A=2, B=1), SHANGHAI, SITES, stock, SPLIT)
    assert shipments(result) == [("SH", [("A", 2), ("B", 1)])]
    assert result.backordered == []
    assert "SH can ship everything" in result.reason


def test_outside_the_region_priority_decides() -> None:
    stock = {"BJ": {"A": 5}, "HK": {"A": 5}}
    elsewhere = Address("Ana", "1 Main St", "Lisbon", "1100-001", "PT")
    assert shipments(plan(lines(A=1), elsewhere, SITES, stock, SPLIT)) == [("BJ", [("A", 1)])]


def test_a_single_warehouse_that_has_everything_beats_a_closer_split() -> None:
    stock = {"SH": {"A": 5}, "BJ": {"A": 5, "B": 5}}
    assert shipments(plan(lines(A=1, B=1), SHANGHAI, SITES, stock, SPLIT)) == [("BJ", [("A", 1), ("B", 1)])]


def test_split_uses_the_fewest_warehouses() -> None:
    stock = {"BJ": {"A": 1}, "SH": {"B": 2}, "HK": {"A": 3, "C": 1}}
    result = plan(lines(A=3, B=2, C=1), SHANGHAI, SITES, stock, SPLIT)
    assert shipments(result) == [("SH", [("B", 2)]), ("HK", [("A", 3), ("C", 1)])]
    assert "split across SH, HK" in result.reason


def test_split_may_divide_a_line_between_warehouses() -> None:
    stock = {"SH": {"A": 2}, "BJ": {"A": 2}}
    result = plan(lines(A=3), SHANGHAI, SITES, stock, SPLIT)
    assert shipments(result) == [("SH", [("A", 2)]), ("BJ", [("A", 1)])]


def test_without_split_or_partial_the_whole_order_waits() -> None:
    stock = {"SH": {"A": 5}, "BJ": {"B": 5}}
    result = plan(lines(A=1, B=1), SHANGHAI, SITES, stock, NO_SPLIT)
    assert result.shipments == []
    assert [(line.sku, line.quantity) for line in result.backordered] == [("A", 1), ("B", 1)]


def test_partial_ships_what_one_warehouse_has_and_backorders_the_rest() -> None:
    stock = {"SH": {"A": 1}, "BJ": {"A": 2, "B": 1}}
    result = plan(lines(A=3, B=2), SHANGHAI, SITES, stock, PARTIAL)
    assert shipments(result) == [("BJ", [("A", 2), ("B", 1)])]
    assert [(line.sku, line.quantity) for line in result.backordered] == [("A", 1), ("B", 1)]


def test_split_and_partial_take_everything_there_is() -> None:
    stock = {"SH": {"A": 1}, "BJ": {"A": 1}}
    result = plan(lines(A=3), SHANGHAI, SITES, stock, FulfilmentPolicy(allow_split=True, allow_partial=True))
    assert shipments(result) == [("SH", [("A", 1)]), ("BJ", [("A", 1)])]
    assert [(line.sku, line.quantity) for line in result.backordered] == [("A", 1)]


def test_nothing_anywhere_is_all_backordered() -> None:
    result = plan(lines(A=1), SHANGHAI, SITES, {}, FulfilmentPolicy(allow_split=True, allow_partial=True))
    assert result.shipments == [] and [line.sku for line in result.backordered] == ["A"]
