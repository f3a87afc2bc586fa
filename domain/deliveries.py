"""Partners reporting back (warehouse, carrier) and what the carrier reports about a shipment."""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.contract import Update
from domain.steps import ProjectOrder

PARTNER_ID_PATTERN = r"^[a-z][a-z0-9_-]{1,63}$"
EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"
SECRET_PREFIX = "psec_"


class PartnerKind(StrEnum):
    WAREHOUSE = "warehouse"  # confirms pick lists of its warehouses, reports returns that arrive there
    CARRIER = "carrier"  # reports shipments of its carrier


class CallbackType(StrEnum):
    PICK_CONFIRMED = "pick.confirmed"
    HANDED_TO_CARRIER = "shipment.handed_to_carrier"
    DELIVERED = "shipment.delivered"
    DELIVERY_FAILED = "shipment.delivery_failed"
    RETURN_RECEIVED = "return.received"


# The order workflow's update for each shipment report.
UPDATES = {
    CallbackType.HANDED_TO_CARRIER: Update.SHIPMENT_HANDED_OVER,
    CallbackType.DELIVERED: Update.SHIPMENT_DELIVERED,
    CallbackType.DELIVERY_FAILED: Update.DELIVERY_FAILED,
}


@dataclass(frozen=True)
class Partner:
    partner_id: str
    kind: PartnerKind
    warehouses: tuple[str, ...] = ()
    carrier: str | None = None

    def speaks_for_warehouse(self, warehouse: str) -> bool:
        return self.kind is PartnerKind.WAREHOUSE and warehouse in self.warehouses

    def speaks_for_carrier(self, carrier: str) -> bool:
        return self.kind is PartnerKind.CARRIER and carrier == self.carrier

    @property
    def actor(self) -> str:
        """How timelines name the partner."""
        return f"partner:{self.partner_id}"


def event_fingerprint(body: dict[str, Any]) -> str:
    """The same event sent again (whitespace or key order aside) has the same fingerprint."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class ShipmentReport:
    """What the carrier says about one shipment: handed over, delivered, or failed (with why)."""

    shipment_id: str
    at: datetime
    detail: str = ""  # received_by when delivered, the reason when failed
    actor: str = "carrier"
    # The partner's event reference: the workflow acts once per reference.
    ref: str = ""


@dataclass(frozen=True)
class RecordDelivery:
    """Persist a handover or delivery on the shipment, with the timeline entry and status it brings."""

    shipment_id: str
    event: str  # handed_to_carrier | delivered
    at: datetime
    projection: ProjectOrder
    received_by: str | None = None


@dataclass
class DeliveryProgress:
    """Where each shipment of a finished order stands, for an order whose workflow has closed."""

    delivered: dict[str, datetime | None] = field(default_factory=dict)

    @property
    def all_delivered(self) -> bool:
        return bool(self.delivered) and all(at is not None for at in self.delivered.values())
