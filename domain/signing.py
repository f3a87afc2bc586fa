"""HMAC-SHA256 signatures over timestamp and body, for webhooks we send and callbacks we receive.

The header reads `Orderflow-Signature: t=<unix seconds>,v1=<hex>` where the hex is
HMAC-SHA256(secret, f"{t}." + raw body). Several `v1=` values may appear while a secret is being
rotated; any one that matches is enough. The timestamp bounds replays of a captured request.

A webhook subscription may choose the Standard Webhooks scheme (https://www.standardwebhooks.com)
instead: `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64>` where the base64 is
HMAC-SHA256(base64-decoded secret after `whsec_`, "<id>.<timestamp>.<body>"); several signatures are
separated by spaces.
"""

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

SIGNATURE_HEADER = "Orderflow-Signature"
TOLERANCE_S = 300  # five minutes either way
STANDARD_PREFIX = "whsec_"
STANDARD_SECRET_PATTERN = r"^whsec_[A-Za-z0-9+/]{32,88}={0,2}$"


class Scheme(StrEnum):
    ORDERFLOW = "orderflow"  # Orderflow-Signature: t=...,v1=<hex>
    STANDARD = "standard"  # Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature


class BadSignature(ValueError):
    """The request is not signed by the secret, or was signed too long ago (or ahead)."""


def sign(secret: str, timestamp: int, body: bytes, *older: str) -> str:
    """The header value for `body` sent at `timestamp`: one signature per secret, newest first."""
    return ",".join([f"t={timestamp}", *(f"v1={_digest(s, timestamp, body)}" for s in (secret, *older))])


def standard_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret; ValueError when `secret` is not one."""
    if not re.match(STANDARD_SECRET_PATTERN, secret):
        raise ValueError("a Standard Webhooks secret is whsec_ and 24 to 64 bytes in base64")
    try:
        return base64.b64decode(secret[len(STANDARD_PREFIX) :], validate=True)
    except binascii.Error as err:
        raise ValueError(f"a Standard Webhooks secret is whsec_ and base64: {err}") from None


def sign_standard(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for `body`, one signature per secret (newest first)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    signatures = [
        "v1," + base64.b64encode(hmac.new(standard_key(s), signed, hashlib.sha256).digest()).decode() for s in secrets
    ]
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": " ".join(signatures)}


@dataclass(frozen=True)
class Signature:
    timestamp: int
    digests: tuple[str, ...]


def parse(header: str) -> Signature:
    timestamp: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            digests.append(value)
    if timestamp is None or not digests:
        raise BadSignature(f"{SIGNATURE_HEADER} must read t=<unix seconds>,v1=<hex HMAC-SHA256>")
    return Signature(timestamp, tuple(digests))


def verify(secret: str, header: str | None, body: bytes, now: float, tolerance_s: int = TOLERANCE_S) -> int:
    """The signed timestamp, if `header` signs `body` with `secret` within the tolerance; else BadSignature."""
    if not header:
        raise BadSignature(f"the {SIGNATURE_HEADER} header is missing")
    signature = parse(header)
    if abs(now - signature.timestamp) > tolerance_s:
        raise BadSignature(f"the signature timestamp is more than {tolerance_s} s from now")
    expected = _digest(secret, signature.timestamp, body)
    if not any(hmac.compare_digest(expected, digest) for digest in signature.digests):
        raise BadSignature("the signature does not match the body")
    return signature.timestamp


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
