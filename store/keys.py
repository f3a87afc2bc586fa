"""API keys: random secrets, stored only as their SHA-256.

A key is 256 random bits, so a fast unsalted hash is the right tool: there is nothing to guess that a
slow password hash (bcrypt, argon2) would protect, and every request can afford one SHA-256. The
secret leaves this module once, in the return value of `create`.
"""

import hashlib
import re
import secrets
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access import KEY_NAME_PATTERN, Principal, Role
from domain.orders import CHANNEL_PATTERN
from store.sql import utcnow
from store.tables import ApiKey, PartnerRow

# Recognisable in a leaked log or repository (and redacted from ours): `of_` + 43 URL-safe characters.
SECRET_PREFIX = "of_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def principal_of(key: ApiKey) -> Principal:
    return Principal(
        key_id=key.key_id, name=key.name, role=Role(key.role), channel=key.channel, partner_id=key.partner_id
    )


async def create(
    session: AsyncSession, name: str, role: Role, channel: str | None = None, partner_id: str | None = None
) -> tuple[ApiKey, str]:
    """A new key and its secret. A channel key needs its channel, a partner key its partner (one that
    exists); no other role takes either."""
    if not re.match(KEY_NAME_PATTERN, name):
        raise ValueError(f"a key's name is letters, digits and ._@- (up to 64): {name!r}")
    if (role is Role.CHANNEL) != (channel is not None):
        raise ValueError("a channel key needs a channel; other roles take none")
    if (role is Role.PARTNER) != (partner_id is not None):
        raise ValueError("a partner key needs a partner; other roles take none")
    if partner_id is not None and await session.get(PartnerRow, partner_id) is None:
        raise ValueError(f"partner {partner_id} does not exist")
    if channel is not None and not re.match(CHANNEL_PATTERN, channel):
        raise ValueError(f"not a channel code: {channel!r}")
    secret = new_secret()
    key = ApiKey(
        key_id="k_" + secrets.token_hex(8),
        name=name,
        role=role.value,
        channel=channel,
        partner_id=partner_id,
        key_hash=hash_secret(secret),
        created_at=utcnow(),
    )
    session.add(key)
    await session.flush()
    return key, secret


async def authenticate(session: AsyncSession, secret: str) -> ApiKey | None:
    """The active key with this secret, from the database every time (the API remembers the answer for
    a few seconds: api/caches.py)."""
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 100:
        return None
    query = select(ApiKey).where(ApiKey.key_hash == hash_secret(secret), ApiKey.revoked_at.is_(None))
    return (await session.execute(query)).scalar_one_or_none()


async def get(session: AsyncSession, key_id: str) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def page(session: AsyncSession, include_revoked: bool, after: str | None, limit: int) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.key_id).limit(limit)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    if after:
        query = query.where(ApiKey.key_id > after)
    return list((await session.execute(query)).scalars())


async def revoke(session: AsyncSession, key_id: str) -> ApiKey | None:
    """Revoke once; revoking again keeps the first time."""
    at: datetime = utcnow()
    await session.execute(
        update(ApiKey).where(ApiKey.key_id == key_id, ApiKey.revoked_at.is_(None)).values(revoked_at=at)
    )
    key = await session.get(ApiKey, key_id, populate_existing=True)
    return key


async def any_exist(session: AsyncSession) -> bool:
    return bool((await session.execute(select(func.count()).select_from(ApiKey))).scalar_one())


async def bootstrap_dev_keys(session: AsyncSession, channel: str = "web") -> tuple[str, str] | None:
    """On a database with no keys at all: an admin key and a demo channel key, as secrets. None after that."""
    if await any_exist(session):
        return None
    _, admin = await create(session, "admin", Role.ADMIN)
    _, demo = await create(session, f"{channel}-demo", Role.CHANNEL, channel)
    return admin, demo
