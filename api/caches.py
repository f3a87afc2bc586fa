"""Short-lived, in-process memories of what the database said, so a submission does not ask it again.

Each API process keeps its own; nothing here is shared or invalidated across processes, so what
another process (or `orderflow-keys`) changes shows here at most `ttl` seconds later. A change made
through this process forgets the entry at once. `ttl` 0 remembers nothing.
"""

import time
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from domain.access import Principal

K = TypeVar("K")
V = TypeVar("V")

# Enough for every key and every product a deployment has; past it the memory starts over.
MAX_ENTRIES = 10_000


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (self._clock() + self.ttl, value)

    def forget(self, keys: Iterable[K]) -> None:
        for key in keys:
            self._entries.pop(key, None)

    def forget_where(self, doomed: Callable[[V], bool]) -> None:
        for key in [k for k, (_, v) in self._entries.items() if doomed(v)]:
            del self._entries[key]


class Principals(TtlCache[str, Principal]):
    """Active API keys by the SHA-256 of their secret. Unknown and revoked keys are never remembered:
    a flood of bad keys still costs a lookup each, and a new key works at once."""

    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ttl, max_entries, clock)
        # Revoked through this process: never remembered again, even when a request that read the key
        # before the revocation committed finishes after it.
        self._revoked: set[str] = set()

    def put(self, key: str, value: Principal) -> None:
        if value.key_id not in self._revoked:
            super().put(key, value)

    def revoked(self, key_id: str) -> None:
        if len(self._revoked) >= self.max_entries:
            self._revoked.clear()
        self._revoked.add(key_id)
        self.forget_where(lambda principal: principal.key_id == key_id)


class ActiveProducts(TtlCache[str, bool]):
    """SKUs the catalogue said are active. Only active ones are remembered, so a product created or
    reactivated a moment ago is accepted at once; one deactivated elsewhere may still pass the submit
    check for `ttl` seconds, and is then refused by the order's confirm step, which reads the catalogue
    itself."""

    def known_active(self, skus: Iterable[str]) -> set[str]:
        return {sku for sku in skus if self.get(sku)}

    def put_many(self, skus: Iterable[str]) -> None:
        for sku in skus:
            self.put(sku, True)
