"""/healthz: can we reach the database and Temporal?"""

import asyncio

from fastapi import APIRouter, Response
from sqlalchemy import text

from api.deps import SessionsDep, TemporalDep
from api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", responses={503: {"model": Health}})
async def healthz(sessions: SessionsDep, temporal: TemporalDep, response: Response) -> Health:
    async def database() -> str:
        try:
            async with sessions() as s:
                await s.execute(text("SELECT 1"))
            return "ok"
        except Exception as err:
            return f"unreachable: {type(err).__name__}"

    async def workflow_service() -> str:
        try:
            await asyncio.wait_for(temporal.service_client.check_health(), timeout=3)
            return "ok"
        except Exception as err:
            return f"unreachable: {type(err).__name__}"

    db, tmp = await asyncio.gather(database(), workflow_service())
    healthy = db == "ok" and tmp == "ok"
    if not healthy:
        response.status_code = 503
    return Health(status="ok" if healthy else "degraded", database=db, temporal=tmp)
