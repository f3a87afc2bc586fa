"""Retention prunes only what it may: old and settled rows go in batches, anything still needed stays,
and audit rows are exported before they are deleted. The pruning runs in the Retention workflow on a
real Temporal server; the Schedule that starts it is created by the worker."""

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.retention import RetentionActivities
from config import Settings
from domain.contract import RETENTION_SCHEDULE_ID, WorkflowType
from domain.retention import Pruned, PruneTable, RetentionPlan
from store.sql import utcnow
from store.tables import (
    AuditEntry,
    EventRow,
    IdempotencyRecord,
    ImportOrderRow,
    ImportRow,
    WebhookDeliveryRow,
)
from worker import schedule_retention
from workflows.retention import RetentionWorkflow

OLD = timedelta(days=400)


def _id() -> str:
    return uuid.uuid4().hex


async def seed(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """Old rows of every kind: the ones retention may take and the ones it must leave."""
    old = utcnow() - OLD
    ids: dict[str, Any] = {"settled_events": [_id() for _ in range(5)]}
    ids |= {"undispatched": _id(), "unpublished": _id(), "with_pending": _id(), "recent": _id()}
    ids |= {"delivered": _id(), "pending": _id(), "running_import": _id(), "done_import": _id()}
    ids["audit_marker"] = f"/retention-test/{_id()}"
    async with sessions.begin() as s:

        def event(event_id: str, dispatched: bool = True, published: bool = True, at: Any = old) -> EventRow:
            return EventRow(
                event_id=event_id,
                type="order.shipped",
                order_id="web-R",
                occurred_at=at,
                data={},
                created_at=at,
                dispatched_at=at if dispatched else None,
                published_at=at if published else None,
            )

        s.add_all([event(e) for e in ids["settled_events"]])
        s.add_all([event(ids["undispatched"], dispatched=False), event(ids["unpublished"], published=False)])
        s.add_all([event(ids["with_pending"]), event(ids["recent"], at=utcnow())])
        for delivery_id, event_id, status in (
            (ids["delivered"], ids["settled_events"][0], "delivered"),
            (ids["pending"], ids["with_pending"], "pending"),
        ):
            s.add(
                WebhookDeliveryRow(
                    delivery_id=delivery_id,
                    subscription_id="wh_x",
                    event_id=event_id,
                    event_type="order.shipped",
                    status=status,
                    attempts=1,
                    redeliveries=0,
                    created_at=old,
                    updated_at=old,
                )
            )
        for import_id, status in ((ids["running_import"], "running"), (ids["done_import"], "completed")):
            s.add(
                ImportRow(
                    import_id=import_id,
                    name="x.csv",
                    format="csv",
                    status=status,
                    rows=3,
                    created_by="key:x",
                    created_at=old,
                    finished_at=old if status == "completed" else None,
                )
            )
            await s.flush()
            s.add_all(
                [
                    ImportOrderRow(
                        import_id=import_id,
                        seq=n,
                        channel="web",
                        external_id=f"E{n}",
                        rows=[n],
                        outcome="created",
                        errors=[],
                    )
                    for n in range(3)
                ]
            )
        s.add(
            IdempotencyRecord(
                key_id="k_x",
                idempotency_key=_id(),
                request_hash="h",
                status=None,
                headers={},
                body=b"",
                created_at=old,
                expires_at=old,
            )
        )
        s.add_all(
            [
                AuditEntry(
                    occurred_at=old,
                    request_id=_id(),
                    key_id="k_x",
                    actor="key:x",
                    role="admin",
                    method="POST",
                    path=ids["audit_marker"],
                    order_id=None,
                    status=200,
                    outcome="succeeded",
                )
                for _ in range(3)
            ]
        )
    return ids


def exported_audit(directory: Path) -> tuple[list[dict[str, Any]], list[Path]]:
    files = sorted(directory.glob("audit-*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines()], list(directory.glob("*.partial"))


async def test_retention_prunes_only_what_it_may_and_exports_the_audit_log_first(
    dev_env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    ids = await seed(sessions)
    days = {"events": 30, "webhook_deliveries": 30, "imports": 30, "idempotency_records": 1, "audit_log": 365}
    # Batches of two: every table needs several, as a large one does.
    plan = RetentionPlan([PruneTable(table, keep, batch_size=2) for table, keep in days.items()])
    task_queue = f"retention-{_id()}"
    async with Worker(
        dev_env.client,
        task_queue=task_queue,
        workflows=[RetentionWorkflow],
        activities=[RetentionActivities(sessions, tmp_path).prune_table],
    ):
        result: list[Pruned] = await dev_env.client.execute_workflow(
            WorkflowType.RETENTION, plan, id=f"retention-{_id()}", task_queue=task_queue, result_type=list[Pruned]
        )
    assert {p.table for p in result} == set(days)

    async with sessions() as s:
        events_left = set((await s.execute(select(EventRow.event_id))).scalars())
        deliveries_left = set((await s.execute(select(WebhookDeliveryRow.delivery_id))).scalars())
        imports_left = set((await s.execute(select(ImportRow.import_id))).scalars())
        import_rows_left = set((await s.execute(select(ImportOrderRow.import_id))).scalars())
        idempotency_left = (await s.execute(select(IdempotencyRecord.key_id))).scalars().all()
        audit_left = (await s.execute(select(AuditEntry).where(AuditEntry.path == ids["audit_marker"]))).all()
    assert not set(ids["settled_events"]) & events_left
    assert {ids["undispatched"], ids["unpublished"], ids["with_pending"], ids["recent"]} <= events_left
    assert ids["delivered"] not in deliveries_left and ids["pending"] in deliveries_left
    assert ids["done_import"] not in imports_left | import_rows_left
    assert ids["running_import"] in imports_left and ids["running_import"] in import_rows_left
    assert "k_x" in idempotency_left  # its first request never finished: a retry must still find it
    assert audit_left == []
    exported, partial = exported_audit(tmp_path)
    assert [e["path"] for e in exported].count(ids["audit_marker"]) == 3
    assert partial == []


async def test_the_worker_keeps_one_retention_schedule(dev_env: WorkflowEnvironment, sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, task_queue=f"tq-{_id()}", retention_every_minutes=30)
    await schedule_retention(dev_env.client, settings)
    await schedule_retention(dev_env.client, settings)  # a second worker process: updated, not doubled
    handle = dev_env.client.get_schedule_handle(RETENTION_SCHEDULE_ID)
    described = await handle.describe()
    assert described.schedule.spec.intervals[0].every == timedelta(minutes=30)
    await schedule_retention(dev_env.client, Settings(database_url=sqlite_url, retention_every_minutes=0))
    assert RETENTION_SCHEDULE_ID not in [s.id async for s in await dev_env.client.list_schedules()]
