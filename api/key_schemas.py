"""API keys and the audit log."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import Strict
from domain.access import KEY_NAME_PATTERN, Role
from domain.deliveries import PARTNER_ID_PATTERN
from domain.orders import CHANNEL_PATTERN


class KeyIn(Strict):
    name: Annotated[str, StringConstraints(pattern=KEY_NAME_PATTERN)] = Field(
        examples=["carol"], description="who holds the key; the timeline and audit log show it as key:<name>"
    )
    role: Role
    channel: Annotated[str, StringConstraints(pattern=CHANNEL_PATTERN)] | None = Field(
        default=None, description="the channel a `channel` key is bound to; only for that role"
    )
    partner_id: Annotated[str, StringConstraints(pattern=PARTNER_ID_PATTERN)] | None = Field(
        default=None,
        description="the partner (/v1/partners) a `partner` key acts for, only on its warehouses' pick lists; "
        "only for that role",
    )


class KeyOut(BaseModel):
    key_id: str
    name: str
    role: Role
    channel: str | None
    partner_id: str | None
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="the secret, shown this once: only its SHA-256 is stored")


class KeyPage(BaseModel):
    items: list[KeyOut]
    next_cursor: str | None


class AuditOut(BaseModel):
    id: int
    occurred_at: datetime
    request_id: str
    key_id: str | None
    actor: str
    role: str | None
    method: str
    path: str
    order_id: str | None
    status: int
    outcome: str = Field(description="succeeded, refused (4xx), failed (5xx) or replayed (Idempotency-Key)")


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None
