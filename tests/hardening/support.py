"""Shared by the hardening tests: an event with a pending delivery, and a loopback HTTP receiver."""

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.webhooks import WebhookActivities
from domain.events import BusinessEvent, DeliverWebhook, DeliveryAttempted
from store import events
from store.tables import WebhookDeliveryRow


@dataclass
class Capture:
    """A subscriber standing in for the outside party: keeps each request, answers `status`."""

    status: int = 204
    headers_out: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@contextmanager
def capturing(capture: Capture) -> Iterator[Capture]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            capture.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(capture.status)
            for name, value in capture.headers_out.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    capture.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield capture
    finally:
        server.shutdown()
        server.server_close()


async def pending_delivery(sessions: async_sessionmaker[AsyncSession], subscription_id: str) -> DeliverWebhook:
    event = BusinessEvent(str(uuid.uuid4()), "order.shipped", "web-X1", datetime.now(UTC), {"order_id": "web-X1"})
    async with sessions.begin() as s:
        await events.record(s, [event])
        row = await events.get_event(s, event.event_id)
        assert row is not None
        delivery_id = await events.open_delivery(s, subscription_id, row)
    return DeliverWebhook(delivery_id, subscription_id, event.event_id)


async def attempt(activities: WebhookActivities, req: DeliverWebhook) -> DeliveryAttempted | BaseException:
    try:
        result: DeliveryAttempted = await ActivityEnvironment().run(activities.deliver_webhook, req)
    except BaseException as err:  # the activity's ApplicationError is the outcome under test
        return err
    return result


async def delivery(sessions: async_sessionmaker[AsyncSession], delivery_id: str) -> WebhookDeliveryRow:
    async with sessions() as s:
        row = await s.get(WebhookDeliveryRow, delivery_id)
        assert row is not None
        return row
