"""Retention's one step: prune a table in batches, each its own short transaction (store/retention.py)."""

import asyncio
import os
import time
from datetime import timedelta
from pathlib import Path

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.retention import Pruned, PruneTable
from store import retention
from store.sql import utcnow

log = structlog.get_logger(__name__)

# One activity call prunes for about this long, then hands back so the workflow can call again:
# heartbeats stay frequent and no single attempt grows without bound.
BUDGET_S = 60.0


def write_durably(path: Path, text: str) -> None:
    """Write a whole file under its final name only once it is on disk (a crash leaves no half file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    with partial.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    partial.replace(path)


async def _write(path: Path, text: str) -> None:
    await asyncio.to_thread(write_durably, path, text)


class RetentionActivities:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], audit_export_dir: Path, pause_ratio: float = 9.0
    ) -> None:
        self._sessions = sessions
        self._audit_export_dir = audit_export_dir
        self._pause_ratio = pause_ratio

    @activity.defn(name="prune_table")
    async def prune_table(self, req: PruneTable) -> Pruned:
        """Delete the table's rows older than `keep_days` that nothing needs, a batch per transaction."""
        started = time.monotonic()
        now = utcnow()
        cutoff = now - timedelta(days=req.keep_days)
        deleted = 0
        while True:
            batch_started = time.monotonic()
            async with self._sessions.begin() as s:
                if req.table == "audit_log":
                    n = await retention.export_audit(s, cutoff, req.batch_size, self._audit_export_dir, _write)
                else:
                    n = await retention.prune_batch(s, req.table, cutoff, req.batch_size, now)
            deleted += n
            activity.heartbeat(deleted)
            if n < req.batch_size:
                more = False
                break
            if time.monotonic() - started > BUDGET_S:
                more = True
                break
            # Flat out, pruning took half of order throughput on a busy machine (docs/performance.md):
            # it rests between batches, so what it takes of the database and the CPU stays a fraction.
            await asyncio.sleep((time.monotonic() - batch_started) * self._pause_ratio)
        if deleted:
            log.info("pruned", table=req.table, deleted=deleted, keep_days=req.keep_days, more=more)
        return Pruned(req.table, deleted, more)
