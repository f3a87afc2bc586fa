"""Which addresses webhooks and partner adapters may reach (domain/egress.py)."""

import ipaddress

import pytest

from domain.egress import EgressRule, Reach, classify, parse_networks

PRODUCTION = EgressRule(production=True)
DEVELOPMENT = EgressRule(production=False)


@pytest.mark.parametrize(
    ("address", "reach"),
    [
        ("93.184.216.34", Reach.PUBLIC),
        ("2606:2800:220:1::1", Reach.PUBLIC),
        ("127.0.0.1", Reach.LOOPBACK),
        ("127.8.9.10", Reach.LOOPBACK),
        ("::1", Reach.LOOPBACK),
        ("::ffff:127.0.0.1", Reach.LOOPBACK),  # IPv4-mapped: judged as the IPv4 address
        ("10.1.2.3", Reach.PRIVATE),
        ("172.16.0.1", Reach.PRIVATE),
        ("192.168.1.1", Reach.PRIVATE),
        ("100.64.0.1", Reach.PRIVATE),  # carrier-grade NAT
        ("fd12:3456::1", Reach.PRIVATE),
        ("169.254.169.254", Reach.LINK_LOCAL),
        ("::ffff:169.254.169.254", Reach.LINK_LOCAL),
        ("fe80::1", Reach.LINK_LOCAL),
        ("fd00:ec2::254", Reach.METADATA),
        ("100.100.100.200", Reach.METADATA),
        ("0.0.0.0", Reach.UNROUTABLE),
        ("224.0.0.1", Reach.UNROUTABLE),
        ("240.0.0.1", Reach.UNROUTABLE),
    ],
)
def test_addresses_are_classified(address: str, reach: Reach) -> None:
    assert classify(ipaddress.ip_address(address)) is reach


@pytest.mark.parametrize("address", ["169.254.169.254", "fe80::1", "fd00:ec2::254", "0.0.0.0"])
def test_link_local_and_metadata_are_refused_everywhere_even_when_allowed(address: str) -> None:
    allow_all_private = EgressRule(production=True, allow=parse_networks(["10.0.0.0/8"]))
    ip = ipaddress.ip_address(address)
    assert DEVELOPMENT.refusal(ip) is not None
    assert PRODUCTION.refusal(ip) is not None
    assert allow_all_private.refusal(ip) is not None


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.1.2.3", "192.168.1.1", "fd12:3456::1"])
def test_loopback_and_private_are_refused_in_production_only(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert DEVELOPMENT.refusal(ip) is None
    reason = PRODUCTION.refusal(ip)
    assert reason is not None and "ORDERFLOW_EGRESS_ALLOW" in reason


def test_the_allow_list_opens_the_networks_it_names_and_no_others() -> None:
    rule = EgressRule(production=True, allow=parse_networks(["10.20.0.0/16", "127.0.0.1"]))
    assert rule.refusal(ipaddress.ip_address("10.20.3.4")) is None
    assert rule.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert rule.refusal(ipaddress.ip_address("10.21.0.1")) is not None
    assert rule.refusal(ipaddress.ip_address("127.0.0.2")) is not None
    assert rule.refusal(ipaddress.ip_address("93.184.216.34")) is None


def test_a_name_is_refused_when_any_of_its_addresses_is() -> None:
    addresses = [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.1")]
    assert PRODUCTION.refusal_of_any(addresses) is not None
    assert PRODUCTION.refusal_of_any(addresses[:1]) is None


@pytest.mark.parametrize("text", ["not-a-network", "169.254.0.0/16", "0.0.0.0/0", "::/0"])
def test_the_allow_list_refuses_what_it_cannot_open(text: str) -> None:
    with pytest.raises(ValueError, match=r"network|never"):
        parse_networks([text])
