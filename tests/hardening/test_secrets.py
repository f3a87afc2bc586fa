"""Secrets at rest (store/crypto.py), webhook secret rotation, and the Standard Webhooks scheme proven
with its reference library verifying a real delivery."""

import time
from datetime import timedelta

import pytest
import standardwebhooks
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.webhooks import WebhookActivities
from config import Settings
from domain.deliveries import PartnerKind
from domain.signing import SIGNATURE_HEADER, BadSignature, Scheme, verify
from store import crypto, events, partners
from store.secrets_cli import reencrypt
from store.sql import utcnow
from tests.conftest import unique
from tests.hardening.support import Capture, attempt, capturing, pending_delivery


async def stored(sessions: async_sessionmaker[AsyncSession], table: str, key: str, value: str) -> str:
    """The value as it lies in the database, past the sealing column type."""
    async with sessions() as s:
        column = "subscription_id" if table == "webhook_subscriptions" else "partner_id"
        row = (await s.execute(text(f"SELECT secret FROM {table} WHERE {column} = :v"), {"v": value})).one()
        raw: str = row[0]
        return raw


async def test_secrets_are_unreadable_in_the_database_and_verify_after_a_key_rotation(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    old, new = crypto.new_key(), crypto.new_key()
    crypto.configure([old])
    secret = events.new_secret()
    partner_secret = partners.new_secret()
    async with sessions.begin() as s:
        with capturing(Capture()) as receiver:
            hook = await events.create_subscription(s, receiver.url, ["*"], secret, True)
    hook_id = hook.subscription_id
    partner_id = unique("p").lower()
    async with sessions.begin() as s:
        await partners.create(s, partner_id, "Carrier", PartnerKind.CARRIER, [], "dhl", partner_secret)

    sealed = await stored(sessions, "webhook_subscriptions", hook_id, hook_id)
    sealed_partner = await stored(sessions, "partners", partner_id, partner_id)
    assert sealed.startswith(crypto.PREFIX) and secret not in sealed
    assert sealed_partner.startswith(crypto.PREFIX) and partner_secret not in sealed_partner

    # Rotation: the new key first, the old one still opening; reencrypt; then the old key goes.
    async with sessions.begin() as s:
        changed = await reencrypt(s, crypto.configure([new, old]))
    assert changed["webhook_subscriptions"] >= 1 and changed["partners"] >= 1
    assert await stored(sessions, "webhook_subscriptions", hook_id, hook_id) != sealed
    crypto.configure([new])
    async with sessions() as s:
        partner = await partners.get(s, partner_id)
        assert partner is not None and partner.secret == partner_secret

    with capturing(Capture()) as receiver:
        async with sessions.begin() as s:
            await events.update_subscription(s, hook_id, url=receiver.url)
        outcome = await attempt(WebhookActivities(sessions), await pending_delivery(sessions, hook_id))
        assert not isinstance(outcome, BaseException), outcome
        headers, body = receiver.requests[0]
    verify(secret, headers[SIGNATURE_HEADER.lower()], body, time.time())  # the subscriber's secret still works

    crypto.configure([old])  # the retired key alone opens nothing any more
    with pytest.raises(crypto.SecretsLocked):
        async with sessions() as s:
            await partners.get(s, partner_id)


async def test_a_rotated_webhook_secret_signs_beside_the_new_one_until_the_overlap_ends(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    crypto.configure([crypto.new_key()])
    first, second = events.new_secret(), events.new_secret()
    with capturing(Capture()) as receiver:
        async with sessions.begin() as s:
            hook_id = (await events.create_subscription(s, receiver.url, ["*"], first, True)).subscription_id
        async with sessions.begin() as s:
            await events.rotate_secret(s, hook_id, second, timedelta(hours=24))
        await attempt(WebhookActivities(sessions), await pending_delivery(sessions, hook_id))
        async with sessions.begin() as s:
            hook = await events.get_subscription(s, hook_id)
            assert hook is not None
            hook.previous_secret_expires_at = utcnow() - timedelta(seconds=1)
        await attempt(WebhookActivities(sessions), await pending_delivery(sessions, hook_id))
    (during, body), (after, body_after) = receiver.requests
    signature = during[SIGNATURE_HEADER.lower()]
    assert signature.count("v1=") == 2
    verify(first, signature, body, time.time())
    verify(second, signature, body, time.time())
    assert after[SIGNATURE_HEADER.lower()].count("v1=") == 1
    verify(second, after[SIGNATURE_HEADER.lower()], body_after, time.time())
    with pytest.raises(BadSignature):
        verify(first, after[SIGNATURE_HEADER.lower()], body_after, time.time())


async def test_standard_webhooks_reference_library_verifies_a_real_delivery(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    crypto.configure([crypto.new_key()])
    first, second = events.new_secret(Scheme.STANDARD), events.new_secret(Scheme.STANDARD)
    with capturing(Capture()) as receiver:
        async with sessions.begin() as s:
            hook = await events.create_subscription(s, receiver.url, ["*"], first, True, Scheme.STANDARD)
        req = await pending_delivery(sessions, hook.subscription_id)
        await attempt(WebhookActivities(sessions), req)
        async with sessions.begin() as s:
            await events.rotate_secret(s, hook.subscription_id, second, timedelta(hours=1))
        await attempt(WebhookActivities(sessions), await pending_delivery(sessions, hook.subscription_id))
    (headers, body), (rotated_headers, rotated_body) = receiver.requests
    payload = standardwebhooks.Webhook(first).verify(body, headers)
    assert payload["id"] == req.event_id == headers["webhook-id"]
    assert SIGNATURE_HEADER.lower() not in headers
    for secret in (first, second):  # during the overlap both secrets verify
        standardwebhooks.Webhook(secret).verify(rotated_body, rotated_headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(events.new_secret(Scheme.STANDARD)).verify(body, headers)


def test_production_refuses_to_start_without_a_key() -> None:
    url = "postgresql+asyncpg://u:Xq93hfa0@db/o"
    with pytest.raises(ValidationError, match="ORDERFLOW_SECRET_KEYS must be set in production"):
        Settings(environment="production", database_url=url)
    with pytest.raises(ValidationError, match="ORDERFLOW_SECRET_KEYS: key 1 is not a Fernet key"):
        Settings(environment="production", database_url=url, secret_keys="not-a-key")
    Settings(environment="production", database_url=url, secret_keys=f"{crypto.new_key()},{crypto.new_key()}")
