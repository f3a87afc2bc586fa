"""/v1/audit: who changed what, and how it went. Admin only."""

from typing import Annotated

from fastapi import APIRouter, Query

from api.access import Admin
from api.deps import SessionDep
from api.key_schemas import AuditOut, AuditPage
from api.limits import PageLimit
from api.problems import Problem
from store import audit

router = APIRouter(prefix="/v1/audit", tags=["access"])


@router.get("", responses={422: {"model": Problem}})
async def list_audit(
    _: Admin,
    session: SessionDep,
    limit: PageLimit,
    order_id: Annotated[str | None, Query(max_length=100)] = None,
    key_id: Annotated[str | None, Query(max_length=32)] = None,
    actor: Annotated[str | None, Query(max_length=100, description="a key's name, or key:<name>")] = None,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
) -> AuditPage:
    """State-changing requests, newest first, optionally for one order or one actor."""
    if actor is not None and ":" not in actor:
        actor = f"key:{actor}"
    rows = await audit.page(session, order_id, key_id, actor, int(cursor) if cursor else None, limit + 1)
    return AuditPage(
        items=[AuditOut.model_validate(r, from_attributes=True) for r in rows[:limit]],
        next_cursor=str(rows[limit - 1].id) if len(rows) > limit else None,
    )
