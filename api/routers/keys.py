"""/v1/api-keys: who may call the API. Admin only; the CLI `orderflow-keys` does the same."""

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.access import Admin
from api.deps import IdPath, PrincipalsDep, SessionDep
from api.key_schemas import KeyCreated, KeyIn, KeyOut, KeyPage
from api.limits import PageLimit
from api.problems import Problem, ProblemError, invalid, not_found
from domain.access import Role
from domain.orders import InvalidField
from store import keys, partners
from store.shared import announce_revocation
from store.tables import ApiKey

router = APIRouter(prefix="/v1/api-keys", tags=["access"])


def _key_out(key: ApiKey) -> KeyOut:
    return KeyOut(
        key_id=key.key_id,
        name=key.name,
        role=Role(key.role),
        channel=key.channel,
        partner_id=key.partner_id,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


@router.post("", status_code=201, responses={422: {"model": Problem}})
async def create_key(body: KeyIn, _: Admin, session: SessionDep) -> KeyCreated:
    """A new key. The response carries the secret this once: store it now."""
    if (body.role is Role.CHANNEL) != (body.channel is not None):
        raise invalid([InvalidField("channel", "required for role channel, and only for it")])
    if (body.role is Role.PARTNER) != (body.partner_id is not None):
        raise invalid([InvalidField("partner_id", "required for role partner, and only for it")])
    if body.partner_id is not None and await partners.get(session, body.partner_id) is None:
        raise invalid([InvalidField("partner_id", f"partner {body.partner_id} does not exist")])
    key, secret = await keys.create(session, body.name, body.role, body.channel, body.partner_id)
    return KeyCreated(**_key_out(key).model_dump(), key=secret)


@router.get("")
async def list_keys(
    _: Admin,
    session: SessionDep,
    limit: PageLimit,
    include_revoked: bool = False,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> KeyPage:
    rows = await keys.page(session, include_revoked, cursor, limit + 1)
    return KeyPage(
        items=[_key_out(k) for k in rows[:limit]], next_cursor=rows[limit - 1].key_id if len(rows) > limit else None
    )


@router.delete("/{key_id}", responses={404: {"model": Problem}, 409: {"model": Problem}})
async def revoke_key(
    key_id: IdPath, admin: Admin, session: SessionDep, principals: PrincipalsDep, request: Request
) -> KeyOut:
    """Revoke a key: its next request is refused (401). Revoking a revoked key changes nothing.
    A key cannot revoke itself — create the new key first, then revoke the old one with it."""
    if key_id == admin.key_id:
        raise ProblemError(409, "Cannot revoke the key in use", "revoke this key with another admin key")
    key = await keys.revoke(session, key_id)
    if key is None:
        raise not_found(f"API key {key_id}")
    principals.revoked(key_id)  # this process refuses it at once
    # Every other process at once with Redis; without it, within api_key_cache_seconds.
    await announce_revocation(request.app.state.redis, key_id)
    return _key_out(key)
