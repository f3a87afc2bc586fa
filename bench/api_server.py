"""orderflow's API as `orderflow-api` serves it, plus one bare endpoint that only starts a workflow:
the submit floor, measured in the same process under the same load as the real submit endpoint."""

import signal
import sys
import uuid

import uvicorn
from fastapi import APIRouter
from pydantic import BaseModel

from api.app import create_app
from api.deps import TemporalDep
from bench import probe
from bench.floor import START_ONLY_WORKFLOW
from config import configure_logging, get_settings

# No worker polls this queue: the started workflows wait there, costing the server nothing further.
START_ONLY_QUEUE = "bench-start-only"

router = APIRouter(prefix="/bench", tags=["bench"])


class StartOnly(BaseModel):
    id: str


class Started(BaseModel):
    workflow_id: str


@router.post("/start-only", status_code=201)
async def start_only(body: StartOnly, temporal: TemporalDep) -> Started:
    workflow_id = f"start-only-{body.id or uuid.uuid4().hex}"
    await temporal.start_workflow(START_ONLY_WORKFLOW, body.id, id=workflow_id, task_queue=START_ONLY_QUEUE)
    return Started(workflow_id=workflow_id)


def main() -> None:
    probe.install()
    settings = get_settings()
    configure_logging(settings)
    app = create_app(settings)
    app.include_router(router)
    # uvicorn re-raises the signal it stopped on; exit through Python so the counters get written.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_config=None, access_log=False)
