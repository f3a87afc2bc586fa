"""The outbox relay: runs beside the worker, hands each committed business event to its subscribers.

For each undispatched event, oldest first: one `WebhookDelivery` workflow per matching active
subscription (workflow id `webhook-{subscription}-{event}`, REJECT_DUPLICATE: a second start is
refused, which is the once-per-subscription guarantee), then the event is marked dispatched. When a
message bus is configured, a second pass publishes to JetStream (Nats-Msg-Id = event id, so the
stream drops a re-publish) and marks the event published. Each consumer has its own mark: NATS being
away delays the bus, not the webhooks, and one event that cannot be handed on does not hold up the
rest. A crash between handing on and marking only hands on again; two relays at once only duplicate
refused starts and dropped re-publishes.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from activities.bus import EventBus
from domain.events import DeliverWebhook
from gateway import starts
from store import events
from store.db import READ_ONLY
from store.tables import EventRow, WebhookSubscription

log = structlog.get_logger(__name__)

FAILED_PAUSE_S = 2.0  # after a failed pass, so an outage is not hammered (nor the log flooded)


@dataclass(frozen=True)
class RelayOptions:
    task_queue: str
    retry_hours: float = 24.0
    interval_s: float = 0.5
    batch_size: int = 100
    nats_url: str = ""


class Relay:
    def __init__(
        self,
        client: Client,
        sessions: async_sessionmaker[AsyncSession],
        options: RelayOptions,
        bus: EventBus | None = None,
    ) -> None:
        self._client = client
        self._sessions = sessions
        self._options = options
        self._bus = bus

    async def dispatch(self) -> int:
        """One pass over the outbox: webhooks, then the message bus, each on its own mark so that one
        being away does not hold up the other. How many events the busier of the two handed on; -1
        when something could not be handed on (the next pass tries again, after a pause)."""
        delivered, stuck = await self._dispatch_webhooks()
        published = 0
        if self._options.nats_url:
            try:
                published = await self._publish()
            except Exception as err:  # NATS is away: the events wait for it; webhooks carry on
                log.warning("publishing to the message bus failed; retrying", error=f"{type(err).__name__}: {err}")
                await self._drop_bus()
                return -1
        return -1 if stuck else max(delivered, published)

    async def _dispatch_webhooks(self) -> tuple[int, int]:
        """Start the deliveries of undispatched events: (handed on, could not be)."""
        async with self._sessions() as s:
            await s.connection(execution_options=READ_ONLY)
            batch = await events.undispatched(s, self._options.batch_size)
            active = await events.active_subscriptions(s) if batch else []
        done: list[int] = []
        for event in batch:
            try:
                await self._deliver(event, events.subscribers_of(active, event.type))
            except Exception as err:  # this event waits for the next pass; the others go on
                log.warning("starting webhook deliveries failed", event_id=event.event_id, error=str(err))
                continue
            done.append(event.seq)
        if done:
            async with self._sessions.begin() as s:
                # Without a bus there is nothing to publish to: the event is done for it too.
                await events.mark_dispatched(s, done, published=not self._options.nats_url)
            log.info("events dispatched", count=len(done), last_seq=done[-1])
        return len(done), len(batch) - len(done)

    async def _publish(self) -> int:
        async with self._sessions() as s:
            await s.connection(execution_options=READ_ONLY)
            batch = await events.unpublished(s, self._options.batch_size)
        if not batch:
            return 0
        bus = await self._connected_bus()
        assert bus is not None
        published: list[int] = []
        try:
            for event in batch:
                await bus.publish(events.to_event(event))
                published.append(event.seq)
        finally:
            if published:
                async with self._sessions.begin() as s:
                    await events.mark_published(s, published)
        return len(batch)

    async def _drop_bus(self) -> None:
        """Connect afresh next pass."""
        bus, self._bus = self._bus, None
        if bus is not None:
            with contextlib.suppress(Exception):
                await bus.close()

    async def _connected_bus(self) -> EventBus | None:
        """The message bus, connected on first use: NATS being away delays events, it does not stop the worker."""
        if self._bus is None and self._options.nats_url:
            self._bus = await EventBus.connect(self._options.nats_url)
        return self._bus

    async def close(self) -> None:
        if self._bus is not None:
            await self._bus.close()

    async def _deliver(self, event: EventRow, subscribers: list[WebhookSubscription]) -> None:
        if not subscribers:
            return
        async with self._sessions.begin() as s:
            delivery_ids = [await events.open_delivery(s, sub.subscription_id, event) for sub in subscribers]
        for subscriber, delivery_id in zip(subscribers, delivery_ids, strict=True):
            delivery = DeliverWebhook(
                delivery_id, subscriber.subscription_id, event.event_id, self._options.retry_hours
            )
            await starts.start_delivery(self._client, self._options.task_queue, delivery)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: dispatch, then wait the interval (no wait while there is a backlog)."""
        while not stop.is_set():
            try:
                dispatched = await self.dispatch()
            except Exception as err:  # the database, Temporal or NATS is away; the outbox keeps the events
                log.warning("relay pass failed; retrying", error=f"{type(err).__name__}: {err}")
                dispatched = -1
            if dispatched < self._options.batch_size:
                pause = self._options.interval_s if dispatched >= 0 else max(self._options.interval_s, FAILED_PAUSE_S)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)


@contextlib.asynccontextmanager
async def running_relay(
    client: Client, sessions: async_sessionmaker[AsyncSession], options: RelayOptions
) -> AsyncIterator[Relay]:
    """The relay as a background task (with the message bus when ORDERFLOW_NATS_URL is set), stopped on exit."""
    relay = Relay(client, sessions, options)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop), name="outbox-relay")
    log.info("outbox relay running", nats=bool(options.nats_url), interval_s=options.interval_s)
    try:
        yield relay
    finally:
        stop.set()
        await task
        await relay.close()
