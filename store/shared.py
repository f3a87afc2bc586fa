"""Redis, where API processes share what must hold across them (ORDERFLOW_REDIS_URL; api/ratelimit.py)."""

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

# Key IDs revoked anywhere (API or orderflow-keys) are published here; every API process listens.
REVOCATIONS = "orderflow:key-revocations"


def redis_of(url: str) -> Redis | None:
    """A client (connecting on first use) when a URL is set."""
    return Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1) if url else None


async def announce_revocation(redis: Redis | None, key_id: str) -> None:
    """Tell every API process to forget `key_id` now. Without Redis (or when it does not answer) the
    others find out within api_key_cache_seconds."""
    if redis is None:
        return
    try:
        await redis.publish(REVOCATIONS, key_id)
    except (RedisError, OSError) as err:
        log.warning(
            "key revocation not announced; other processes refuse the key within their cache time",
            key_id=key_id,
            error=str(err),
        )
