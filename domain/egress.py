"""Where orderflow may send requests: webhook targets and external WMS/TMS/ERP URLs (server-side request
forgery). Pure: it judges addresses; resolving names and connecting is egress.py's job.

- link-local (cloud metadata answers at 169.254.169.254 and fd00:ec2::254), unspecified, multicast and
  reserved addresses: refused always, whatever the allow-list says;
- loopback, private (RFC 1918, unique-local IPv6) and shared (CGNAT) ranges: refused in production unless
  a network of the allow-list holds the address (private integrations); development keeps them reachable,
  so a receiver on the developer's own machine works;
- everything else (public addresses): allowed.
"""

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Metadata services that are not link-local everywhere (Alibaba Cloud, AWS over IPv6).
METADATA = frozenset(ipaddress.ip_address(a) for a in ("100.100.100.200", "fd00:ec2::254"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class Reach(StrEnum):
    PUBLIC = "public"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link-local"  # cloud metadata lives here
    METADATA = "metadata"
    UNROUTABLE = "unroutable"  # unspecified, multicast, reserved, documentation


# Refused whatever the deployment or its allow-list says.
NEVER = frozenset({Reach.LINK_LOCAL, Reach.METADATA, Reach.UNROUTABLE})
# Refused in production unless allowed.
INTERNAL = frozenset({Reach.LOOPBACK, Reach.PRIVATE})


def classify(address: Address) -> Reach:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return classify(address.ipv4_mapped)
    if address in METADATA:
        return Reach.METADATA
    if address.is_link_local:
        return Reach.LINK_LOCAL
    if address.is_loopback:  # before `is_reserved`, which holds ::1
        return Reach.LOOPBACK
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return Reach.UNROUTABLE
    if address.is_private or (isinstance(address, ipaddress.IPv4Address) and address in _SHARED):
        # `is_private` also holds documentation and benchmarking ranges: unreachable on purpose, but
        # refusing them as private is the same answer.
        return Reach.PRIVATE
    if not address.is_global:
        return Reach.UNROUTABLE
    return Reach.PUBLIC


@dataclass(frozen=True)
class EgressRule:
    """The deployment's rule: production or development, and the networks production may reach anyway."""

    production: bool
    allow: tuple[Network, ...] = ()

    def refusal(self, address: Address) -> str | None:
        """Why `address` may not be sent to; None when it may."""
        reach = classify(address)
        if reach in NEVER:
            return f"{address} is a {reach.value} address, never a webhook or partner target"
        if reach in INTERNAL and self.production and not any(address in net for net in self.allow):
            return (
                f"{address} is a {reach.value} address; in production only networks named in "
                "ORDERFLOW_EGRESS_ALLOW may be reached"
            )
        return None

    def refusal_of_any(self, addresses: Iterable[Address]) -> str | None:
        """A name is refused when any of its addresses is: the connection may pick any of them."""
        for address in addresses:
            reason = self.refusal(address)
            if reason is not None:
                return reason
        return None


def parse_address(text: str) -> Address | None:
    """The address when `text` is an IP literal (brackets and a zone allowed for IPv6); else None."""
    text = text.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_networks(texts: Sequence[str]) -> tuple[Network, ...]:
    """The allow-list from its settings text: CIDR networks or single addresses. ValueError names a bad one."""
    networks: list[Network] = []
    for text in texts:
        try:
            network = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError as err:
            raise ValueError(f"{text!r} is not an IP network (CIDR) or address") from err
        if any(classify(a) in NEVER for a in (network.network_address, network.broadcast_address)):
            raise ValueError(f"{text!r} holds link-local or metadata addresses, which are never reachable")
        networks.append(network)
    return tuple(networks)
