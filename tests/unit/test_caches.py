"""The API's short-lived memories of keys and products: they forget on time and never outlive a revocation."""

from api.caches import ActiveProducts, Principals, TtlCache
from domain.access import Principal, Role


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def viewer(key_id: str = "k_1") -> Principal:
    return Principal(key_id=key_id, name="carol", role=Role.VIEWER, channel=None)


def test_an_entry_is_believed_for_its_ttl_and_not_a_moment_longer() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(5, clock=clock)
    cache.put("a", 1)
    clock.now = 4.9
    assert cache.get("a") == 1
    cache.put("b", 2)
    clock.now = 5.0
    assert cache.get("a") is None
    assert cache.get("b") == 2
    clock.now = 9.9
    assert cache.get("b") is None


def test_a_ttl_of_zero_remembers_nothing() -> None:
    cache: TtlCache[str, int] = TtlCache(0)
    cache.put("a", 1)
    assert cache.get("a") is None


def test_a_full_cache_starts_over_instead_of_growing() -> None:
    cache: TtlCache[str, int] = TtlCache(5, max_entries=3)
    for i in range(4):
        cache.put(str(i), i)
    assert [cache.get(str(i)) for i in range(4)] == [None, None, None, 3]


def test_a_key_revoked_through_this_process_is_forgotten_and_never_remembered_again() -> None:
    principals = Principals(60)
    principals.put("hash-1", viewer("k_1"))
    principals.put("hash-2", viewer("k_2"))
    principals.revoked("k_1")
    assert principals.get("hash-1") is None
    assert principals.get("hash-2") is not None
    # A request that read the key before the revocation committed must not bring it back.
    principals.put("hash-1", viewer("k_1"))
    assert principals.get("hash-1") is None


def test_only_products_read_as_active_are_remembered() -> None:
    clock = Clock()
    products = ActiveProducts(5, clock=clock)
    products.put_many(["MUG"])
    assert products.known_active(["MUG", "CAP"]) == {"MUG"}
    products.forget(["MUG"])
    assert products.known_active(["MUG"]) == set()
    products.put_many(["MUG"])
    clock.now = 5
    assert products.known_active(["MUG"]) == set()
