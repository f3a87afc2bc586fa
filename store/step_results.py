"""What a step of an order answered the first time it ran, kept by (order, step run).

A workflow task whose completion the server never recorded is handed out again, and its replay runs the
task's local steps again with the same input. Such a run must answer what the first one answered: the
rows it would look at again (stock, reservations, the catalog) may have moved on since, by the order's own
later steps among others. The result is recorded in the transaction that does the step's work.
"""

from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.sql import insert_ignore, utcnow
from store.tables import StepResult

STEP_RESULTS: Table = StepResult.__table__  # type: ignore[assignment]
_RECORDED = select(STEP_RESULTS.c.result).where(
    STEP_RESULTS.c.order_id == bindparam("match_order_id"), STEP_RESULTS.c.step == bindparam("match_step")
)


async def recorded(session: AsyncSession, order_id: str, step: str) -> dict[str, Any] | None:
    """The result an earlier run of this step recorded, if any."""
    row = (await session.execute(_RECORDED, {"match_order_id": order_id, "match_step": step})).first()
    return dict(row.result) if row is not None else None


async def record(session: AsyncSession, order_id: str, step: str, result: dict[str, Any]) -> bool:
    """Record this run's result; False when an earlier (or concurrent) run of the step recorded one first:
    the caller rolls back and answers that one."""
    row = {"order_id": order_id, "step": step, "result": result, "recorded_at": utcnow()}
    return bool(await insert_ignore(session, STEP_RESULTS, [row]))
