"""Bodies of /v1/partners and /v1/callbacks/{partner_id}."""

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from api.change_schemas import MAX_CHANGES, ReceivedLineIn
from api.schemas import ShortText, Strict, Text
from domain.deliveries import EVENT_ID_PATTERN, PARTNER_ID_PATTERN, CallbackType, PartnerKind

PartnerId = Annotated[str, StringConstraints(pattern=PARTNER_ID_PATTERN)]
WarehouseCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]  # as /v1/warehouses/{code}
Secret = Annotated[str, StringConstraints(min_length=32, max_length=200, pattern=r"^[\x21-\x7e]+$")]
EntityId = Annotated[str, StringConstraints(min_length=1, max_length=160)]


class PartnerIn(Strict):
    partner_id: PartnerId = Field(examples=["acme-post"], description="the slug in /v1/callbacks/{partner_id}")
    name: Text
    kind: PartnerKind
    warehouses: list[WarehouseCode] = Field(default=[], description="the warehouses a `warehouse` partner speaks for")
    carrier: ShortText | None = Field(default=None, description="the carrier a `carrier` partner speaks for")
    secret: Secret | None = Field(default=None, description="the HMAC secret; generated (`psec_...`) if absent")


class PartnerOut(BaseModel):
    partner_id: str
    name: str
    kind: PartnerKind
    warehouses: list[str]
    carrier: str | None
    active: bool
    created_at: datetime
    secret_rotated_at: datetime | None
    deactivated_at: datetime | None


class PartnerCreated(PartnerOut):
    secret: str = Field(description="the signing secret, shown this once")


class PartnerPage(BaseModel):
    items: list[PartnerOut]
    next_cursor: str | None


class RotateSecretIn(Strict):
    secret: Secret | None = Field(default=None, description="the new secret; generated if absent")


class CallbackIn(Strict):
    """The envelope every partner event comes in; `data` depends on `type`."""

    id: Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)] = Field(
        description="the partner's event ID: a resend with the same ID changes nothing"
    )
    type: CallbackType
    occurred_at: AwareDatetime
    data: dict[str, object]


class PickConfirmedData(Strict):
    pick_list_id: EntityId
    picked_by: ShortText | None = None


class ShipmentData(Strict):
    shipment_id: EntityId


class DeliveredData(ShipmentData):
    received_by: Text | None = None


class DeliveryFailedData(ShipmentData):
    reason: Text


class ReturnReceivedData(Strict):
    """What arrived of a return at one of the partner's warehouses; the event ID is the report's ID."""

    return_id: EntityId
    warehouse: WarehouseCode = Field(description="where restocked units go back on hand: one of the partner's")
    lines: Annotated[list[ReceivedLineIn], Field(min_length=1, max_length=MAX_CHANGES)]
    received_by: ShortText | None = None


DATA_MODELS: dict[CallbackType, type[Strict]] = {
    CallbackType.PICK_CONFIRMED: PickConfirmedData,
    CallbackType.HANDED_TO_CARRIER: ShipmentData,
    CallbackType.DELIVERED: DeliveredData,
    CallbackType.DELIVERY_FAILED: DeliveryFailedData,
    CallbackType.RETURN_RECEIVED: ReturnReceivedData,
}


class CallbackAccepted(BaseModel):
    event_id: str
    type: CallbackType
    order_id: str
    replayed: bool = Field(description="true: this event ID was acted on before; nothing changed now")
