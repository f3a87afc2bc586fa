"""Request and response bodies of /v1/webhooks and /v1/events."""

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, StringConstraints, field_validator

from api.schemas import Strict
from domain.events import ALL_TYPES, CATALOGUE
from domain.signing import Scheme

EventTypes = Annotated[list[str], Field(min_length=1, max_length=len(CATALOGUE) + 1)]
Url = Annotated[str, StringConstraints(min_length=8, max_length=2000)]
Secret = Annotated[str, StringConstraints(min_length=16, max_length=200, pattern=r"^[\x21-\x7e]+$")]


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials; the signature authenticates us")
    return url


def _check_types(types: list[str]) -> list[str]:
    unknown = [t for t in types if t != ALL_TYPES and t not in CATALOGUE]
    if unknown:
        raise ValueError(f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(CATALOGUE)} or *")
    return list(dict.fromkeys(types))


class WebhookIn(Strict):
    url: Url = Field(examples=["https://erp.example.com/hooks/orderflow"])
    event_types: EventTypes = Field(examples=[["order.shipped", "exception.opened"]], description='or ["*"]')
    secret: Secret | None = Field(
        default=None, description="signs every delivery; when left out, one is generated and returned this once"
    )
    active: bool = True
    signing_scheme: Scheme = Field(
        default=Scheme.ORDERFLOW,
        description="orderflow: Orderflow-Signature (t=,v1=hex); standard: Standard Webhooks "
        "(webhook-id, webhook-timestamp, webhook-signature), whose secrets are whsec_ and base64",
    )

    _url = field_validator("url")(_check_url)
    _types = field_validator("event_types")(_check_types)


class RotateWebhookSecret(Strict):
    secret: Secret | None = Field(default=None, description="the new secret; generated when left out")
    overlap_hours: float = Field(
        default=24, ge=0, le=24 * 7, description="how long the old secret keeps signing beside the new one"
    )


class WebhookPatch(Strict):
    url: Url | None = None
    event_types: EventTypes | None = None
    active: bool | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        return None if url is None else _check_url(url)

    @field_validator("event_types")
    @classmethod
    def _types(cls, types: list[str] | None) -> list[str] | None:
        return None if types is None else _check_types(types)


class WebhookOut(BaseModel):
    subscription_id: str
    url: str
    event_types: list[str]
    active: bool
    signing_scheme: Scheme
    previous_secret_expires_at: datetime | None = Field(
        description="until when the secret before the last rotation still signs beside the current one"
    )
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="the signing secret, returned this once")


class WebhookPage(BaseModel):
    items: list[WebhookOut]
    next_cursor: str | None


class DeliveryOut(BaseModel):
    delivery_id: str
    subscription_id: str
    event_id: str
    event_type: str
    status: str = Field(description="pending (trying), delivered, or failed (dead letter: redeliver by API)")
    attempts: int
    redeliveries: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class EventOut(BaseModel):
    id: str
    type: str
    occurred_at: datetime
    data: dict[str, Any]
    dispatched_at: datetime | None  # webhook deliveries started
    published_at: datetime | None  # on the message bus (or no bus was configured then)


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None
