"""Composition root of the worker: settings → engine → activities → Temporal worker."""

import asyncio
import contextlib
import signal
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
)

import telemetry
from activities.billing import BillingActivities
from activities.carrier import CarrierActivities
from activities.deliveries import DeliveryActivities
from activities.external import HttpCarrier, HttpLedger, HttpWarehouse, Partner
from activities.foresight import ForesightActivities, ForesightConfig
from activities.importing import ImportActivities
from activities.inventory import InventoryActivities
from activities.orders import OrderActivities
from activities.outbox import RelayOptions, running_relay
from activities.retention import RetentionActivities
from activities.returns import ReturnActivities
from activities.warehouse import WarehouseActivities
from activities.webhooks import WebhookActivities
from config import Settings, WarehouseMode, configure_logging, get_settings
from domain.contract import FORECAST_SCHEDULE_ID, RETENTION_SCHEDULE_ID, WorkflowType
from domain.foresight import ForecastRun
from egress import Egress
from store import crypto
from store.db import Database, ShortWork
from workflows.forecast import ForecastWorkflow
from workflows.importing import ImportBatchWorkflow
from workflows.inbound_notice import InboundNoticeWorkflow
from workflows.order import OrderWorkflow
from workflows.restock import RestockWorkflow
from workflows.retention import RetentionWorkflow
from workflows.returns import ReturnWorkflow
from workflows.webhook import WebhookDeliveryWorkflow

log = structlog.get_logger(__name__)

WORKFLOWS: Sequence[type] = (
    OrderWorkflow,
    RestockWorkflow,
    WebhookDeliveryWorkflow,
    ImportBatchWorkflow,
    RetentionWorkflow,
    ForecastWorkflow,
    ReturnWorkflow,
    InboundNoticeWorkflow,
)


def partner(settings: Settings, system: str) -> Partner | None:
    """The external `system` the settings point at, or None for the built-in one."""
    external = settings.external(system)
    if external is None:
        return None
    return Partner(
        system.upper(),
        external.url,
        token=external.token,
        username=external.username,
        password=external.password,
        timeout_s=external.timeout_s,
        connect_timeout_s=external.connect_timeout_s,
        egress=Egress.from_settings(settings),
    )


def build_activities(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> list[Any]:
    auto_after = settings.auto_pick_delay_seconds if settings.warehouse_mode is WarehouseMode.AUTO else None
    wms, tms, erp = (partner(settings, system) for system in ("wms", "tms", "erp"))
    external_wms = HttpWarehouse(wms) if wms else None
    orders = OrderActivities(sessions, external_wms)
    inventory = InventoryActivities(sessions)
    warehouse = WarehouseActivities(sessions, auto_after, external_wms, frozenset(settings.manual_warehouses))
    carrier = CarrierActivities(sessions, HttpCarrier(tms) if tms else settings.carrier_name)
    ledger = HttpLedger(erp) if erp else None
    billing = BillingActivities(sessions, ledger)
    webhooks = WebhookActivities(sessions, Egress.from_settings(settings))
    deliveries = DeliveryActivities(sessions)
    returns = ReturnActivities(sessions, ledger)
    return [
        orders.confirm_order,
        orders.project_order,
        orders.audit_outside_update,
        orders.cancel_order,
        orders.release_remainder,
        returns.record_return,
        returns.restock_return,
        returns.refund_return,
        inventory.reserve_stock,
        inventory.waiting_orders,
        inventory.expected_inbound,
        warehouse.create_pick_list,
        carrier.book_shipment,
        billing.issue_invoice,
        webhooks.deliver_webhook,
        webhooks.dead_letter_webhook,
        deliveries.record_delivery,
    ]


STEPS_AT_ONCE = 20
# Worker processes on one host, each on its own metrics port: worker_metrics_port and the next ones.
WORKER_METRICS_PORTS = 16


class StepLog(Interceptor):
    """At debug level, a line as each step's attempt starts. Steps run as local activities are not listed
    as pending in the Web UI; with ORDERFLOW_LOG_LEVEL=debug the worker's log says what it is running."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _StepLogInbound(next)


class _StepLogInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        log.debug(
            "step started",
            step=info.activity_type,
            workflow_id=info.workflow_id,
            attempt=info.attempt,
            local=info.is_local,
        )
        return await super().execute_activity(input)


class AsShortWork(Interceptor):
    """Runs the given activities as the database's short work (store.db.ShortWork)."""

    def __init__(self, short_work: ShortWork, activities: Sequence[Any]) -> None:
        self._short_work = short_work
        self._activities = frozenset(activities)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _AsShortWorkInbound(next, self._short_work, self._activities)


class _AsShortWorkInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, short_work: ShortWork, activities: frozenset[Any]) -> None:
        super().__init__(next)
        self._short_work = short_work
        self._activities = activities

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if input.fn in self._activities:
            return await self._short_work.run(self.next.execute_activity, input)
        return await self.next.execute_activity(input)


def relay_options(settings: Settings) -> RelayOptions:
    return RelayOptions(
        task_queue=settings.task_queue,
        retry_hours=settings.webhook_retry_hours,
        interval_s=settings.relay_interval_seconds,
        batch_size=settings.relay_batch_size,
        nats_url=settings.nats_url,
    )


def build_worker(
    client: Client,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    short_work: ShortWork | None = None,
) -> Worker:
    """`short_work`: where the steps run, with its sessions (as `orderflow-worker` runs them)."""
    importing = ImportActivities(client, sessions, settings)  # starts workflows, so it needs the client
    steps = build_activities(settings, short_work.sessions if short_work else sessions)
    retention = RetentionActivities(sessions, settings.resolved_audit_export_dir, settings.retention_pause_ratio)
    # Forecasting batches are long, CPU-heavy regular activities: not short work.
    foresight = ForesightActivities(sessions, ForesightConfig.from_settings(settings))
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=list(WORKFLOWS),
        activities=[
            *steps,
            importing.start_chunk,
            importing.finish_import,
            foresight.collect_demand,
            foresight.plan_forecast_batches,
            foresight.forecast_batch,
            foresight.check_deliveries,
            retention.prune_table,
        ],
        max_concurrent_activities=50,
        # Steps run as local activities: no more at once than the database pool has connections
        # (store/db.py: 30), so a step never spends its timeout waiting for one.
        max_concurrent_local_activities=STEPS_AT_ONCE,
        interceptors=[StepLog(), *([AsShortWork(short_work, steps)] if short_work else [])],
        # On SIGTERM, let running steps finish; whatever does not is retried by the next worker.
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


def forecast_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WorkflowType.FORECAST,
            ForecastRun(batch_skus=settings.forecast_batch_skus),
            id=FORECAST_SCHEDULE_ID,  # the Schedule appends the run's time
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(minutes=settings.forecast_interval_minutes))]
        ),
        # A run still going when the next is due: the next is skipped, never stacked.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_forecast_schedule(client: Client, settings: Settings) -> str | None:
    """Create the forecasting Schedule, or bring an existing one to the configured interval and task
    queue. Every worker process does this at start; the first one creates it. 0 minutes: no schedule
    is created (an existing one is left to operations)."""
    if settings.forecast_interval_minutes <= 0:
        return None
    wanted = forecast_schedule(settings)
    try:
        await client.create_schedule(FORECAST_SCHEDULE_ID, wanted)
        log.info("forecast schedule created", every_minutes=settings.forecast_interval_minutes)
        return "created"
    except ScheduleAlreadyRunningError:
        pass

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate | None:
        schedule = current.description.schedule
        action = schedule.action
        same = (
            schedule.spec.intervals == wanted.spec.intervals
            and isinstance(action, ScheduleActionStartWorkflow)
            and action.task_queue == settings.task_queue
        )
        if same:
            return None
        wanted.state = schedule.state  # paused stays paused
        return ScheduleUpdate(schedule=wanted)

    await client.get_schedule_handle(FORECAST_SCHEDULE_ID).update(update)
    return "kept"


def metrics_runtime(settings: Settings) -> Runtime | None:
    """The SDK's own metrics (task slots, poll and schedule-to-start latency) on the first free port from
    `worker_metrics_port`: each worker process serves its own, so nothing is summed twice (docs/operations.md)."""
    if not settings.worker_metrics_port:
        return None
    for port in range(settings.worker_metrics_port, settings.worker_metrics_port + WORKER_METRICS_PORTS):
        address = f"{settings.metrics_host}:{port}"
        try:
            metrics = PrometheusConfig(bind_address=address, durations_as_seconds=True)
            runtime = Runtime(telemetry=TelemetryConfig(metrics=metrics))
        except ValueError:  # the port is taken, by another worker process most likely
            continue
        log.info("worker metrics", url=f"http://{address}/metrics")
        return runtime
    raise RuntimeError(f"no free port for worker metrics from {settings.worker_metrics_port}")


async def connect(
    settings: Settings, within: float = 60, runtime: Runtime | None = None, tracing: telemetry.Tracing | None = None
) -> Client:
    """Temporal may be starting or restarting as the worker starts: keep trying for a while, then give up
    (and let the supervisor start the worker again)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await Client.connect(
                settings.temporal_address,
                namespace=settings.temporal_namespace,
                runtime=runtime or Runtime.default(),
                # On the client, so the workers built on it trace their workflows and activities too.
                interceptors=[tracing.interceptor()] if tracing else [],
            )
        except RuntimeError as err:
            if time.monotonic() > deadline:
                raise
            log.warning("Temporal not reachable yet; retrying", address=settings.temporal_address, error=str(err))
            await asyncio.sleep(1)


async def schedule_retention(client: Client, settings: Settings) -> None:
    """Create or update the Schedule that starts retention; every worker process may call it."""
    handle = client.get_schedule_handle(RETENTION_SCHEDULE_ID)
    plan = settings.retention_plan()
    if not settings.retention_every_minutes or not plan.tables:
        with contextlib.suppress(RPCError):
            await handle.delete()
        return
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            WorkflowType.RETENTION, plan, id=RETENTION_SCHEDULE_ID, task_queue=settings.task_queue
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=settings.retention_every_minutes))]),
        # A run still pruning when the next is due: the next is skipped, never two at once.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(RETENTION_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        await handle.update(lambda _: ScheduleUpdate(schedule=schedule))


async def run(settings: Settings) -> None:
    crypto.configure(crypto.keys_of(settings.secret_keys))
    database = Database(settings.resolved_database_url, short_transactions=True)
    tracing = telemetry.setup("orderflow-worker")
    client = await connect(settings, runtime=metrics_runtime(settings), tracing=tracing)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sessions = database.sessions
    try:
        await schedule_retention(client, settings)
        relay = running_relay(client, sessions, relay_options(settings)) if settings.relay else contextlib.nullcontext()
        async with build_worker(client, settings, sessions, database.short_work), relay:
            await ensure_forecast_schedule(client, settings)
            log.info(
                "worker running",
                task_queue=settings.task_queue,
                warehouse_mode=settings.warehouse_mode.value,
                external={system: bool(settings.external(system)) for system in ("wms", "tms", "erp")},
            )
            await stop.wait()
            log.info("worker stopping: finishing the tasks in hand")
    finally:
        await database.close()
        if tracing:
            tracing.shutdown()


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
