"""Starting an import's orders, a chunk at a time, through the same start as POST /v1/orders."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client

from config import Settings
from domain.imports import ChunkStarted, ImportOutcome, StartChunk, order_from_json
from domain.orders import Order
from gateway import orders as gateway
from gateway.orders import Outcome
from rules.engine import ActiveRules, new_order
from store import imports
from store.db import READ_ONLY
from store.tables import ImportOrderRow

log = structlog.get_logger(__name__)

# Workflow starts in flight at once within a chunk.
PARALLEL_STARTS = 10


def conflict_error(order_id: str, rows: list[int]) -> dict[str, Any]:
    return {
        "rows": rows,
        "column": None,
        "message": f"order {order_id} was already submitted with different content; use a new external_id",
    }


class ImportActivities:
    def __init__(self, temporal: Client, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._temporal = temporal
        self._sessions = sessions
        self._settings = settings
        self._rules = ActiveRules(settings.rules_cache_seconds)

    @activity.defn(name="start_import_chunk")
    async def start_chunk(self, req: StartChunk) -> ChunkStarted:
        """Start the chunk's pending orders and record each outcome. A retry skips the orders already
        recorded, and counts an order it started itself before failing as created: the workflow's memo
        names the import that started it."""
        first = req.chunk * req.size
        async with self._sessions() as s:
            await s.connection(execution_options=READ_ONLY)
            waiting = await imports.pending(s, req.import_id, first, first + req.size - 1)
            recorded = await imports.fingerprints(s, [row.order_id for row in waiting if row.order_id])
        gate = asyncio.Semaphore(PARALLEL_STARTS)

        async def one(row: ImportOrderRow) -> tuple[ImportOutcome, list[dict[str, Any]]]:
            async with gate:
                return await self._start(req.import_id, row, order_from_json(row.order or {}), recorded)

        outcomes = await asyncio.gather(*(one(row) for row in waiting))
        async with self._sessions.begin() as s:
            for row, (outcome, errors) in zip(waiting, outcomes, strict=True):
                await imports.settle(s, req.import_id, row.seq, outcome, errors)
        done = [outcome for outcome, _ in outcomes]
        log.info("import chunk started", import_id=req.import_id, chunk=req.chunk, orders=len(done))
        return ChunkStarted(
            created=done.count(ImportOutcome.CREATED),
            duplicate=done.count(ImportOutcome.DUPLICATE),
            invalid=done.count(ImportOutcome.INVALID),
        )

    async def _start(
        self, import_id: str, row: ImportOrderRow, order: Order, recorded: dict[str, str]
    ) -> tuple[ImportOutcome, list[dict[str, Any]]]:
        fingerprint = recorded.get(order.order_id)
        if fingerprint is not None:
            # In the read model: submitted before (also when retention has removed its workflow since).
            if fingerprint != order.fingerprint():
                return ImportOutcome.INVALID, [conflict_error(order.order_id, row.rows)]
            if await gateway.started_by(self._temporal, order.order_id) == import_id:
                return ImportOutcome.CREATED, []  # by this import, on an attempt that failed afterwards
            return ImportOutcome.DUPLICATE, []
        async with self._sessions() as s:
            new = await new_order(s, self._rules, self._settings, order, datetime.now(UTC))
        started = await gateway.start(self._temporal, self._settings, order, import_id, new=new)
        if started.outcome is Outcome.CONFLICT:
            return ImportOutcome.INVALID, [conflict_error(order.order_id, row.rows)]
        if started.outcome is Outcome.EXISTING and started.import_id != import_id:
            return ImportOutcome.DUPLICATE, []
        return ImportOutcome.CREATED, []

    @activity.defn(name="finish_import")
    async def finish_import(self, import_id: str) -> None:
        async with self._sessions.begin() as s:
            await imports.finish(s, import_id)
