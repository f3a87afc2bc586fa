"""Who may do what: the roles an API key carries and the caller a request is made by."""

from dataclasses import dataclass
from enum import StrEnum

from domain.orders import is_order_id

# Names appear in timelines and the audit log as key:<name>.
KEY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"


class Role(StrEnum):
    CHANNEL = "channel"  # bound to one channel: submits its orders, reads only them
    HANDLER = "handler"  # people in operations: exceptions, approvals, holds, cancels, addresses
    ADMIN = "admin"  # everything, including catalog, inventory and keys
    VIEWER = "viewer"  # reads everything, changes nothing
    PARTNER = "partner"  # bound to one partner: confirms that warehouse's (or carrier's) work only
    RULES_EDITOR = "rules_editor"  # business staff: write, try and activate business rules; nothing else


@dataclass(frozen=True)
class Principal:
    """The API key a request was made with."""

    key_id: str
    name: str
    role: Role
    channel: str | None = None
    partner_id: str | None = None  # a partner key's partner; an unbound partner key acts on nothing

    @property
    def actor(self) -> str:
        """How the order timeline and the audit log name this caller."""
        return f"key:{self.name}"

    def may(self, roles: frozenset[Role]) -> bool:
        return self.role is Role.ADMIN or self.role in roles

    def sees_order(self, order_id: str) -> bool:
        """A channel key sees its own channel's orders only; every other role sees all of them.

        Decided from the order ID alone (it starts with the channel), so the answer never depends on
        whether the order exists.
        """
        if self.role is not Role.CHANNEL:
            return True
        return is_order_id(order_id) and order_id.partition("-")[0] == self.channel
