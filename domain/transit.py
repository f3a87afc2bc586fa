"""Late-delivery risk: each carrier x destination country lane's usual times, from its shipment history.

Two legs are measured: booking → hand-over to the carrier, and hand-over → delivery. A lane's usual
time for a leg is the 90th percentile of that leg over its recent shipments (at least `min_samples`
of them, else the lane has no usual time yet and nothing is judged). A parcel still on a leg longer
than its lane's p90 for that leg is at risk: nine parcels in ten of this lane were past it by now.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

MIN_SAMPLES = 5


@dataclass(frozen=True)
class Lane:
    carrier: str
    country: str


@dataclass(frozen=True)
class PastShipment:
    lane: Lane
    shipped_at: datetime
    handed_over_at: datetime | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class LaneTimes:
    handover_p90: timedelta | None
    transit_p90: timedelta | None
    samples: int


@dataclass(frozen=True)
class OpenShipment:
    shipment_id: str
    order_id: str
    lane: Lane
    shipped_at: datetime
    handed_over_at: datetime | None


@dataclass(frozen=True)
class DeliveryRisk:
    shipment_id: str
    order_id: str
    leg: str  # handover | transit
    elapsed: timedelta
    usual: timedelta
    message: str


def p90(values: list[timedelta]) -> timedelta:
    """Nearest-rank 90th percentile."""
    ordered = sorted(values)
    return ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)]


def lane_times(history: list[PastShipment], min_samples: int = MIN_SAMPLES) -> dict[Lane, LaneTimes]:
    handover: dict[Lane, list[timedelta]] = {}
    transit: dict[Lane, list[timedelta]] = {}
    for s in history:
        if s.handed_over_at is not None:
            handover.setdefault(s.lane, []).append(s.handed_over_at - s.shipped_at)
            if s.delivered_at is not None:
                transit.setdefault(s.lane, []).append(s.delivered_at - s.handed_over_at)
    lanes = set(handover) | set(transit)
    return {
        lane: LaneTimes(
            handover_p90=p90(handover[lane]) if len(handover.get(lane, [])) >= min_samples else None,
            transit_p90=p90(transit[lane]) if len(transit.get(lane, [])) >= min_samples else None,
            samples=len(transit.get(lane, [])),
        )
        for lane in lanes
    }


def at_risk(open_shipments: list[OpenShipment], lanes: dict[Lane, LaneTimes], now: datetime) -> list[DeliveryRisk]:
    risks = []
    for s in open_shipments:
        times = lanes.get(s.lane)
        if times is None:
            continue
        lane = f"{s.lane.carrier} → {s.lane.country}"
        if s.handed_over_at is None and times.handover_p90 is not None and now - s.shipped_at > times.handover_p90:
            elapsed = now - s.shipped_at
            risks.append(
                DeliveryRisk(
                    s.shipment_id,
                    s.order_id,
                    "handover",
                    elapsed,
                    times.handover_p90,
                    f"not handed to the carrier {_hours(elapsed)} after booking; lane {lane} usually within "
                    f"{_hours(times.handover_p90)} (p90)",
                )
            )
        elif s.handed_over_at is not None and times.transit_p90 is not None:
            elapsed = now - s.handed_over_at
            if elapsed > times.transit_p90:
                risks.append(
                    DeliveryRisk(
                        s.shipment_id,
                        s.order_id,
                        "transit",
                        elapsed,
                        times.transit_p90,
                        f"in transit for {_hours(elapsed)}; lane {lane} usually delivers within "
                        f"{_hours(times.transit_p90)} (p90)",
                    )
                )
    return risks


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:.1f} h"
