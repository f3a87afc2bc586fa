"""Secrets at rest: webhook signing secrets and partner secrets are encrypted in the database.

They must be readable to sign and verify, so hashing them (as API keys are) will not do. Fernet
(AES-128-CBC with HMAC-SHA256, from `cryptography`) seals each value under the deployment's key;
`MultiFernet` reads with any configured key and seals with the first, so a key is rotated without
downtime: put the new key first, keep the old one after it, run `orderflow-secrets reencrypt`, then
drop the old key. A sealed value reads `fernet:<token>`. Without a key (development only: production
refuses to start, config.py) values are stored as given, and `reencrypt` seals them once a key is set.
"""

from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

PREFIX = "fernet:"


class SecretsLocked(RuntimeError):
    """A sealed secret was read without a key that opens it: ORDERFLOW_SECRET_KEYS is missing or lacks
    the key it was sealed with."""


def new_key() -> str:
    return Fernet.generate_key().decode()


def parse_keys(text: str) -> list[str]:
    """The keys of ORDERFLOW_SECRET_KEYS (comma-separated, newest first); ValueError names a bad one."""
    keys = [k.strip() for k in text.split(",") if k.strip()]
    for i, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ValueError(f"key {i + 1} is not a Fernet key (32 url-safe base64-encoded bytes)") from None
    return keys


def keys_of(setting: SecretStr | None) -> list[str]:
    return parse_keys(setting.get_secret_value()) if setting else []


class SecretBox:
    def __init__(self, keys: Sequence[str]) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys]) if keys else None

    @property
    def sealing(self) -> bool:
        return self._fernet is not None

    def seal(self, plain: str) -> str:
        if self._fernet is None:
            return plain
        return PREFIX + self._fernet.encrypt(plain.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored
        if self._fernet is None:
            raise SecretsLocked("a secret in the database is encrypted and ORDERFLOW_SECRET_KEYS is not set")
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SecretsLocked("no key of ORDERFLOW_SECRET_KEYS opens a secret in the database") from None

    def reseal(self, stored: str) -> str:
        """The value sealed under the first key (unchanged when it already is and no key is set)."""
        if self._fernet is None:
            return stored
        if not stored.startswith(PREFIX):
            return self.seal(stored)
        try:
            return PREFIX + self._fernet.rotate(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SecretsLocked("no key of ORDERFLOW_SECRET_KEYS opens a secret in the database") from None


_box: SecretBox | None = None


def configure(keys: Sequence[str]) -> SecretBox:
    """Set the process's keys (entry points and tests); otherwise they come from the settings."""
    global _box
    _box = SecretBox(keys)
    return _box


def box() -> SecretBox:
    if _box is None:
        from config import get_settings  # the settings of this process, read once

        return configure(keys_of(get_settings().secret_keys))
    return _box


class SealedText(TypeDecorator[str]):
    """A column whose value is sealed on the way in and opened on the way out."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else box().seal(str(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else box().open(str(value))
