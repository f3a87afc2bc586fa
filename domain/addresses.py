"""Whether a carrier can deliver to an address: postal codes that fit the destination country."""

import re

from domain.orders import Address

# Countries whose postal code format the built-in carrier checks; others pass unchecked.
POSTAL_CODES: dict[str, re.Pattern[str]] = {
    "CN": re.compile(r"^\d{6}$"),
    "US": re.compile(r"^\d{5}(-\d{4})?$"),
    "DE": re.compile(r"^\d{5}$"),
    "FR": re.compile(r"^\d{5}$"),
    "JP": re.compile(r"^\d{3}-?\d{4}$"),
    "PT": re.compile(r"^\d{4}-\d{3}$"),
    "GB": re.compile(r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$", re.IGNORECASE),
}


def undeliverable_reason(address: Address) -> str | None:
    pattern = POSTAL_CODES.get(address.country)
    if pattern is not None and not pattern.match(address.postal_code.strip()):
        return f"postal code {address.postal_code!r} is not valid for {address.country}"
    return None
