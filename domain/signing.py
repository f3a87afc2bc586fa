"""HMAC-SHA256 signatures over timestamp and body, for webhooks we send and callbacks we receive.

The header reads `Orderflow-Signature: t=<unix seconds>,v1=<hex>` where the hex is
HMAC-SHA256(secret, f"{t}." + raw body). Several `v1=` values may appear while a secret is being
rotated; any one that matches is enough. The timestamp bounds replays of a captured request.
"""

import hashlib
import hmac
from dataclasses import dataclass

SIGNATURE_HEADER = "Orderflow-Signature"
TOLERANCE_S = 300  # five minutes either way


class BadSignature(ValueError):
    """The request is not signed by the secret, or was signed too long ago (or ahead)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value for `body` sent at `timestamp`."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


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
