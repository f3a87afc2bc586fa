"""The forecasting Schedule, and the late-delivery rule against a fake carrier whose times are known."""

from datetime import timedelta

from sqlalchemy import select
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from activities.foresight import ForesightActivities, ForesightConfig
from domain.contract import FORECAST_SCHEDULE_ID, WorkflowType
from domain.foresight import CheckDeliveries
from store.db import create_engine, create_sessions
from store.sql import utcnow
from store.tables import AlertRow, EventRow, OrderRow, PickList, Shipment
from tests.conftest import settings_for, unique
from worker import ensure_forecast_schedule


async def test_the_worker_creates_the_schedule_once_and_follows_its_interval(
    dev_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    settings = settings_for(sqlite_url, forecast_interval_minutes=60)
    handle = dev_env.client.get_schedule_handle(FORECAST_SCHEDULE_ID)
    try:
        assert await ensure_forecast_schedule(dev_env.client, settings) == "created"
        assert await ensure_forecast_schedule(dev_env.client, settings) == "kept"
        described = await handle.describe()
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow) and action.workflow == WorkflowType.FORECAST
        assert described.schedule.spec.intervals[0].every == timedelta(hours=1)

        faster = settings.model_copy(update={"forecast_interval_minutes": 15})
        assert await ensure_forecast_schedule(dev_env.client, faster) == "kept"
        assert (await handle.describe()).schedule.spec.intervals[0].every == timedelta(minutes=15)
    finally:
        await handle.delete()


async def test_a_parcel_slower_than_its_lane_raises_delivery_at_risk_once(sqlite_url: str) -> None:
    """The fake carrier hands parcels over 1-10 h after booking and delivers 24-42 h after that (p90:
    9 h and 40 h); two open parcels are slower than that, one is not."""
    engine = create_engine(sqlite_url)
    sessions = create_sessions(engine)
    carrier = unique("fake-post")
    now = utcnow()
    try:
        async with sessions.begin() as s:

            def parcel(n: int, shipped: timedelta, handed: timedelta | None, delivered: timedelta | None) -> str:
                order_id = unique("ord")
                s.add(
                    OrderRow(
                        order_id=order_id,
                        channel="web",
                        external_id=order_id,
                        customer_id="C",
                        customer_name="C",
                        customer_email="c@example.com",
                        ship_to={
                            "name": "A",
                            "line1": "1 Rua",
                            "city": "Lisbon",
                            "postal_code": "1100-001",
                            "country": "PT",
                        },
                        currency="CNY",
                        total=0,
                        priority="standard",
                        status="completed",
                        fingerprint="x",
                        created_at=now - shipped,
                        updated_at=now,
                    )
                )
                s.add(
                    PickList(
                        pick_list_id=f"{order_id}-P",
                        order_id=order_id,
                        warehouse="MAIN",
                        lines=[],
                        state="confirmed",
                        created_at=now - shipped,
                    )
                )
                s.add(
                    Shipment(
                        shipment_id=f"{order_id}-S",
                        order_id=order_id,
                        pick_list_id=f"{order_id}-P",
                        carrier=carrier,
                        tracking_number=unique("T"),
                        shipped_at=now - shipped,
                        handed_over_at=None if handed is None else now - shipped + handed,
                        delivered_at=None if delivered is None else now - shipped + (handed or timedelta()) + delivered,
                    )
                )
                return order_id

            for h in range(1, 11):
                parcel(h, timedelta(days=10), timedelta(hours=h), timedelta(hours=24 + 2 * (h - 1)))
            on_time = parcel(0, timedelta(hours=8), None, None)
            not_handed = parcel(0, timedelta(hours=12), None, None)
            slow = parcel(0, timedelta(hours=60), timedelta(hours=5), None)  # 55 h in transit
        activities = ForesightActivities(sessions, ForesightConfig())
        first = await activities.check_deliveries(CheckDeliveries(now))
        again = await activities.check_deliveries(CheckDeliveries(now))
        async with sessions() as s:
            alerts = (await s.execute(select(AlertRow).where(AlertRow.kind == "delivery_at_risk"))).scalars().all()
            flagged = {a.order_id for a in alerts}
            events = (
                (await s.execute(select(EventRow).where(EventRow.type == "alert.delivery_at_risk"))).scalars().all()
            )
        assert {not_handed, slow} <= flagged and on_time not in flagged
        assert first.raised >= 2 and again.raised == 0  # once per parcel and leg
        assert len([e for e in events if e.order_id in (not_handed, slow)]) == 2
    finally:
        await engine.dispose()
