"""Rate limits and key revocations, shared by every API process through Redis when ORDERFLOW_REDIS_URL is
set, kept in this process otherwise.

One token bucket per API key (and per address for signed callbacks): `burst` requests at once, refilled
at `per_second`. In Redis the bucket is one hash updated by one script, timed by the Redis server's
clock, so N API processes share one budget instead of N. A revoked key is announced on a Redis channel;
each process listens and forgets the key at once, instead of believing its cache for up to
`api_key_cache_seconds`. When Redis does not answer, each process falls back to its own bucket (an
over-generous limit for a moment beats refusing every request) and says so in its log.
"""

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from api.caches import Principals
from store.shared import REVOCATIONS

log = structlog.get_logger(__name__)

BUCKET_PREFIX = "orderflow:bucket:"

# KEYS[1] the bucket; ARGV rate, burst. Returns {tokens left, seconds to wait (0: admitted)} as strings,
# since Redis would truncate Lua numbers to integers.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {tostring(tokens), tostring(wait)}
"""


@dataclass(frozen=True)
class Verdict:
    wait: float  # 0: admitted (a token was taken); else seconds until one is there
    remaining: int  # whole tokens left
    limit: int  # the burst
    reset: float  # seconds until the bucket is full again

    def headers(self) -> dict[str, str]:
        """RateLimit-* (IETF httpapi draft, separate fields) and, when refused, Retry-After."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(math.ceil(self.reset)),
        }
        if self.wait:
            headers["Retry-After"] = str(max(1, math.ceil(self.wait)))
        return headers


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets in this process's memory. A noisy key empties only its own bucket."""

    def __init__(self, per_second: float, burst: int) -> None:
        self.per_second = per_second
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def wait(self, key_id: str) -> float:
        """0 when the request may go ahead (and takes a token); else the seconds until it could."""
        return self.verdict(key_id).wait

    def verdict(self, key: str) -> Verdict:
        now = time.monotonic()
        bucket = self._buckets.setdefault(key, _Bucket(float(self.burst), now))
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.per_second)
        bucket.at = now
        wait = 0.0
        if bucket.tokens >= 1:
            bucket.tokens -= 1
        else:
            wait = (1 - bucket.tokens) / self.per_second
        return _verdict(bucket.tokens, wait, self.per_second, self.burst)

    async def take(self, key: str) -> Verdict:
        return self.verdict(key)


def _verdict(tokens: float, wait: float, per_second: float, burst: int) -> Verdict:
    return Verdict(wait, int(tokens), burst, (burst - tokens) / per_second)


class SharedRateLimiter(RateLimiter):
    """The same buckets in Redis, one per key for all API processes."""

    def __init__(self, redis: "Redis", per_second: float, burst: int) -> None:
        super().__init__(per_second, burst)
        self._redis = redis
        self._script = redis.register_script(_TAKE)
        self._degraded = False

    async def take(self, key: str) -> Verdict:
        try:
            tokens, wait = await self._script(keys=[BUCKET_PREFIX + key], args=[self.per_second, self.burst])
        except (RedisError, OSError) as err:
            if not self._degraded:
                log.warning("Redis did not answer: rate limits are per process until it does", error=str(err))
                self._degraded = True
            return self.verdict(key)
        if self._degraded:
            log.info("Redis answers again: rate limits are shared")
            self._degraded = False
        return _verdict(float(tokens), float(wait), self.per_second, self.burst)


async def _listen(url: str, principals: Principals, ready: asyncio.Event) -> None:
    # A client of its own, without a read timeout: the subscription waits for messages indefinitely.
    redis = Redis.from_url(url, socket_connect_timeout=1)
    while True:
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(REVOCATIONS)
                # Keys revoked while this process was not listening: forget everything it believed.
                principals.forget_where(lambda _: True)
                ready.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        data: Any = message["data"]
                        principals.revoked(data.decode() if isinstance(data, bytes) else str(data))
        except (RedisError, OSError) as err:
            log.warning("revocation listener lost Redis; retrying", error=str(err))
            await asyncio.sleep(1)


@contextlib.asynccontextmanager
async def listening(url: str, principals: Principals) -> AsyncIterator[None]:
    """While the block runs, revocations announced by any process reach `principals`."""
    if not url:
        yield
        return
    ready = asyncio.Event()
    task = asyncio.create_task(_listen(url, principals, ready), name="key-revocations")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ready.wait(), timeout=2)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
