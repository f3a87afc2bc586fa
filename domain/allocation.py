"""Where each line of an order comes from: a pure function of (lines, stock snapshot, policy).

1. One warehouse that can ship everything, preferring the ship-to region, then warehouse priority.
2. Else, when the channel allows splitting, the fewest warehouses that together cover the order.
3. Else, or for what no warehouse has: backorder — shipping what is there now only when the channel
   allows partial shipment.

Business rules narrow or order the warehouses first (`route`: the listed ones first, or only them), and
mark gift lines optional: a gift that would have to wait is left out and the order goes on without it.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import combinations

from domain.orders import Address
from domain.steps import StockLine

# Past this many warehouses, covering sets are searched greedily instead of exhaustively.
EXHAUSTIVE_LIMIT = 10


@dataclass(frozen=True)
class Site:
    code: str
    country: str
    region: str | None = None
    priority: int = 100  # lower ships first

    def closeness(self, to: Address) -> int:
        """2 same region, 1 same country, 0 elsewhere."""
        if self.country != to.country:
            return 0
        return 2 if self.region and to.region and self.region.lower() == to.region.lower() else 1


@dataclass(frozen=True)
class FulfilmentPolicy:
    allow_split: bool = True
    allow_partial: bool = False
    route: tuple[str, ...] = ()  # warehouses to ship from, preferred first
    route_only: bool = False  # ship from `route` only
    optional: frozenset[str] = frozenset()  # SKUs that ship only if they need not wait (gifts)


@dataclass(frozen=True)
class PlannedShipment:
    warehouse: str
    lines: list[StockLine]
    reason: str


@dataclass(frozen=True)
class Plan:
    shipments: list[PlannedShipment] = field(default_factory=list)
    backordered: list[StockLine] = field(default_factory=list)
    reason: str = ""
    dropped: list[StockLine] = field(default_factory=list)  # optional lines left out: not in stock now


Stock = dict[str, dict[str, int]]  # warehouse → sku → available
Has = Callable[[Site, str], int]


def plan(lines: list[StockLine], ship_to: Address, sites: list[Site], stock: Stock, policy: FulfilmentPolicy) -> Plan:
    if policy.route_only:
        sites = [site for site in sites if site.code in policy.route]
    full = _plan(lines, ship_to, sites, stock, policy)
    waiting = {line.sku for line in full.backordered}
    dropped = [line for line in lines if line.sku in policy.optional and line.sku in waiting]
    if not dropped:
        return full
    rest = [line for line in lines if line.sku not in policy.optional]
    without = _plan(rest, ship_to, sites, stock, policy) if rest else Plan(reason="nothing to allocate")
    left_out = [line for line in lines if line.sku in policy.optional]
    note = f"{describe(left_out)} not in stock: going on without {'it' if len(left_out) == 1 else 'them'}"
    return replace(without, dropped=left_out, reason=f"{without.reason}; {note}")


def describe(lines: list[StockLine]) -> str:
    return ", ".join(f"{line.quantity} x {line.sku}" for line in lines)


def _plan(lines: list[StockLine], ship_to: Address, sites: list[Site], stock: Stock, policy: FulfilmentPolicy) -> Plan:
    need = {line.sku: line.quantity for line in lines if line.quantity > 0}
    if not need:
        return Plan(reason="nothing to allocate")
    routed = {code: i for i, code in enumerate(policy.route)}

    def rank(s: Site) -> tuple[int, int, int, str]:
        return (routed.get(s.code, len(routed)), -s.closeness(ship_to), s.priority, s.code)

    ranked = sorted(sites, key=rank)

    def has(site: Site, sku: str) -> int:
        return max(0, stock.get(site.code, {}).get(sku, 0))

    for site in ranked:
        if all(has(site, sku) >= qty for sku, qty in need.items()):
            where = "in the ship-to region" if site.closeness(ship_to) == 2 else "nearest"
            if site.code in routed:
                where = "routed by rule"
            reason = f"{site.code} can ship everything ({where}, priority {site.priority})"
            return Plan([PlannedShipment(site.code, _lines(need, lines), reason)], reason=reason)

    if policy.allow_split:
        cover = _fewest_covering(need, ranked, has)
        if cover is not None:
            shipments = _assign(need, lines, cover, has)
            codes = ", ".join(s.warehouse for s in shipments)
            reason = f"no single warehouse has everything; split across {codes}"
            return Plan(shipments, reason=reason)

    if not policy.allow_partial:
        return Plan(backordered=_lines(need, lines), reason="not enough stock to ship the whole order; waiting")
    if policy.allow_split:
        usable = ranked
    else:  # the one warehouse that can ship the most now
        usable = [max(ranked, key=lambda s: _units(need, s, has))] if ranked else []
    shipments = _assign(need, lines, usable, has)
    shipped: dict[str, int] = {}
    for shipment in shipments:
        for line in shipment.lines:
            shipped[line.sku] = shipped.get(line.sku, 0) + line.quantity
    rest = [StockLine(line.sku, need[line.sku] - shipped.get(line.sku, 0)) for line in lines if line.sku in need]
    rest = [line for line in rest if line.quantity > 0]
    reason = "shipping what is in stock now; the rest is backordered" if shipments else "nothing in stock; waiting"
    return Plan(shipments, rest, reason)


def _lines(need: dict[str, int], order: list[StockLine]) -> list[StockLine]:
    return [StockLine(line.sku, need[line.sku]) for line in order if line.sku in need]


def _units(need: dict[str, int], site: Site, has: Has) -> int:
    return sum(min(qty, has(site, sku)) for sku, qty in need.items())


def _fewest_covering(need: dict[str, int], ranked: list[Site], has: Has) -> list[Site] | None:
    def covers(group: tuple[Site, ...]) -> bool:
        return all(sum(has(s, sku) for s in group) >= qty for sku, qty in need.items())

    if len(ranked) <= EXHAUSTIVE_LIMIT:
        for size in range(2, len(ranked) + 1):
            # combinations() keeps the ranked order, so the first covering group is the most preferred.
            for group in combinations(ranked, size):
                if covers(group):
                    return list(group)
        return None
    chosen: list[Site] = []
    remaining = dict(need)
    while any(remaining.values()):
        best = max((s for s in ranked if s not in chosen), key=lambda s: _units(remaining, s, has), default=None)
        if best is None or _units(remaining, best, has) == 0:
            return None
        chosen.append(best)
        for sku in remaining:
            remaining[sku] -= min(remaining[sku], has(best, sku))
    return chosen


def _assign(need: dict[str, int], order: list[StockLine], sites: list[Site], has: Has) -> list[PlannedShipment]:
    """Take each line from the preferred sites first; drop sites that end up with nothing."""
    taken: dict[str, list[StockLine]] = {}
    for line in order:
        left = need.get(line.sku, 0)
        for site in sites:
            take = min(left, has(site, line.sku))
            if take > 0:
                taken.setdefault(site.code, []).append(StockLine(line.sku, take))
                left -= take
    return [
        PlannedShipment(site.code, taken[site.code], f"{site.code} (priority {site.priority})")
        for site in sites
        if site.code in taken
    ]
