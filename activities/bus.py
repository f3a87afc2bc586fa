"""The message bus: business events published to NATS JetStream, one subject per event type."""

import json

import nats
import structlog
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from domain.events import SUBJECT_PREFIX, BusinessEvent, subject_for

log = structlog.get_logger(__name__)

STREAM = "ORDERFLOW"
# JetStream drops a message whose Nats-Msg-Id it has seen within this window (seconds).
DUPLICATE_WINDOW_S = 24 * 3600


class EventBus:
    """Publishes with the event id as Nats-Msg-Id, so the stream keeps one copy of a re-published event."""

    def __init__(self, connection: NatsClient, jetstream: JetStreamContext) -> None:
        self._connection = connection
        self._jetstream = jetstream

    @classmethod
    async def connect(cls, url: str) -> "EventBus":
        # A few reconnects, then give up: the relay drops a broken bus and connects afresh on its next pass.
        connection = await nats.connect(
            url, name="orderflow", connect_timeout=5, max_reconnect_attempts=3, reconnect_time_wait=1
        )
        jetstream = connection.jetstream()
        try:
            await jetstream.stream_info(STREAM)
        except NotFoundError:
            await jetstream.add_stream(
                name=STREAM, subjects=[f"{SUBJECT_PREFIX}.>"], duplicate_window=DUPLICATE_WINDOW_S
            )
            log.info("stream created", stream=STREAM)
        return cls(connection, jetstream)

    async def publish(self, event: BusinessEvent) -> bool:
        """True when the stream took it as new, False when it was a duplicate."""
        ack = await self._jetstream.publish(
            subject_for(event.type),
            json.dumps(event.payload(), separators=(",", ":")).encode(),
            headers={"Nats-Msg-Id": event.event_id},
            timeout=5,
        )
        return not ack.duplicate

    async def close(self) -> None:
        if self._connection.is_connected:
            await self._connection.drain()
        else:
            await self._connection.close()
