"""The day's demand, drawn from a seed: the same seed gives the same day.

Orders come from several channels along a daily arrival curve with a morning peak; SKU popularity is
skewed (a few best sellers, a long tail); a share are rush, many have several lines; some channels resend
an order they already sent; the sales desk imports a spreadsheet in the afternoon. The faults that land on
orders (bad addresses, SKUs short with or without inbound) are drawn here too, so every order knows
whether a person will have to decide on it.
"""

import math
import random
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace

CHANNELS = (("web", 0.45), ("app", 0.25), ("market", 0.20), ("b2b", 0.10))
IMPORT_CHANNEL = "desk"
# Relative arrivals per hour of the business day from 08:00: a morning peak, a lunch dip, an evening tail.
HOURLY_CURVE = (4, 9, 12, 10, 7, 6, 7, 6, 5, 4, 3, 2, 2, 1, 1, 1)
GOOD_ADDRESS = {
    "name": "Li Wei",
    "line1": "88 Century Ave",
    "city": "Shanghai",
    "postal_code": "200120",
    "country": "CN",
}
# What the handler fixes a rejected address to: the same place, with the street number the carrier missed.
FIXED_LINE1 = "88 Century Avenue, Building 2"
BAD_LINE1 = "88 Century"  # the carrier cannot find it: a person must fix it
MAIN, EAST = "MAIN", "EAST"


@dataclass(frozen=True)
class Faults:
    """Each fault of the day, on by default."""

    short_skus: bool = True
    bad_addresses: bool = True
    carrier_outage: bool = True
    slow_pickers: bool = True
    webhook_offline: bool = True
    worker_kill: bool = True

    NAMES = ("short_skus", "bad_addresses", "carrier_outage", "slow_pickers", "webhook_offline", "worker_kill")

    def on(self) -> list[str]:
        return [name for name in self.NAMES if getattr(self, name)]


@dataclass(frozen=True)
class PlannedOrder:
    at_s: float  # simulated seconds after the day opened
    channel: str
    external_id: str
    lines: dict[str, int]
    rush: bool
    bad_address: bool = False
    resend_after_s: float | None = None  # the channel sends it again this long after (simulated)
    imported: bool = False

    @property
    def order_id(self) -> str:
        return f"{self.channel}-{self.external_id}"

    def body(self) -> dict[str, object]:
        address = dict(GOOD_ADDRESS)
        if self.bad_address:
            address["line1"] = BAD_LINE1
        return {
            "channel": self.channel,
            "external_id": self.external_id,
            "customer": {
                "id": f"C-{zlib.crc32(self.external_id.encode()) % 5000}",
                "name": "Li Wei",
                "email": "li@example.com",
            },
            "ship_to": address,
            "lines": [{"sku": sku, "quantity": q, "unit_price": price_of(sku)} for sku, q in self.lines.items()],
            "currency": "CNY",
            "priority": "rush" if self.rush else "standard",
        }


@dataclass(frozen=True)
class Catalogue:
    skus: tuple[str, ...]
    weights: tuple[float, ...]
    east_only: frozenset[str]  # stocked only in the manual warehouse
    short_with_inbound: frozenset[str]  # none on hand at the open; an inbound arrives mid-day
    short_no_inbound: frozenset[str]  # none on hand and none coming: a person decides
    stock: dict[str, dict[str, int]] = field(default_factory=dict)  # warehouse -> sku -> on hand


@dataclass(frozen=True)
class Day:
    seed: int
    hours: float
    catalogue: Catalogue
    orders: tuple[PlannedOrder, ...]
    faults: Faults

    def person_fault(self, order: PlannedOrder) -> str | None:
        """Why a person must decide on this order, or None when the system should carry it alone."""
        if order.bad_address:
            return "bad address"
        if set(order.lines) & self.catalogue.short_no_inbound:
            return "short SKU, no inbound"
        return None

    def units(self) -> Counter[str]:
        units: Counter[str] = Counter()
        for order in self.orders:
            units.update(order.lines)
        return units


def price_of(sku: str) -> str:
    return f"{19 + (int(sku.rsplit('-', 1)[1]) * 7) % 180}.00"


def catalogue(rng: random.Random, size: int, orders: int, faults: Faults) -> Catalogue:
    skus = tuple(f"SKU-{k:03d}" for k in range(size))
    weights = tuple(1 / (k + 1) ** 1.1 for k in range(size))  # Zipf-like: a few best sellers, a long tail
    tail = list(skus[size // 3 :])
    rng.shuffle(tail)
    with_inbound = frozenset(tail[:2]) if faults.short_skus else frozenset()
    no_inbound = frozenset(tail[2:4]) if faults.short_skus else frozenset()
    east_only = frozenset(s for s in skus[1:] if int(s[-3:]) % 5 == 1) - with_inbound - no_inbound
    stock: dict[str, dict[str, int]] = {MAIN: {}, EAST: {}}
    for sku in skus:
        if sku in with_inbound or sku in no_inbound:
            continue
        plenty = 10 * orders  # more than the day can take: shortage is a fault, chosen, not an accident
        stock[EAST if sku in east_only else MAIN][sku] = plenty
    return Catalogue(skus, weights, east_only, with_inbound, no_inbound, stock)


def arrival_times(rng: random.Random, count: int, hours: float) -> list[float]:
    """Simulated seconds after the open, along the curve stretched or squeezed to `hours`."""
    slots = max(1, math.ceil(hours))
    curve = [HOURLY_CURVE[min(len(HOURLY_CURVE) - 1, int(h * len(HOURLY_CURVE) / slots))] for h in range(slots)]
    span = hours * 3600 / slots
    return sorted((slot + rng.random()) * span for slot in rng.choices(range(slots), weights=curve, k=count))


def plan_day(seed: int, orders: int, hours: float, faults: Faults, skus: int = 60) -> Day:
    rng = random.Random(seed)
    cat = catalogue(rng, skus, orders, faults)
    imported = max(3, orders // 50)
    live = orders - imported
    planned: list[PlannedOrder] = []
    names = [name for name, _ in CHANNELS]
    shares = [share for _, share in CHANNELS]
    for i, at in enumerate(arrival_times(rng, live, hours)):
        channel = rng.choices(names, weights=shares)[0]
        planned.append(_order(rng, cat, at, channel, f"R{seed}-{i:05d}", faults))
    desk_at = hours * 3600 * 0.5  # the sales desk's spreadsheet, early afternoon
    for i in range(imported):
        order = _order(rng, cat, desk_at, IMPORT_CHANNEL, f"X{seed}-{i:04d}", faults)
        planned.append(replace(order, imported=True, resend_after_s=None))
    return Day(seed, hours, cat, tuple(sorted(planned, key=lambda o: o.at_s)), faults)


def _order(
    rng: random.Random, cat: Catalogue, at: float, channel: str, external_id: str, faults: Faults
) -> PlannedOrder:
    line_count = 1 + min(3, int(rng.expovariate(1.2)))  # mostly one or two lines, some three or four
    if channel == "b2b":
        line_count = min(4, line_count + 1)
    lines: Counter[str] = Counter()
    for sku in rng.choices(cat.skus, weights=cat.weights, k=line_count):
        lines[sku] += rng.choice((1, 1, 1, 2, 3)) * (5 if channel == "b2b" else 1)
    resend = rng.uniform(60, 600) if channel in ("market", "app") and rng.random() < 0.06 else None
    return PlannedOrder(
        at_s=at,
        channel=channel,
        external_id=external_id,
        lines=dict(lines),
        rush=rng.random() < 0.15,
        bad_address=faults.bad_addresses and rng.random() < 0.03,
        resend_after_s=resend,
    )
