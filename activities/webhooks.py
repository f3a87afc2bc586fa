"""Webhooks: POST one signed event to one subscriber; every attempt is recorded on its delivery."""

import json

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from domain.contract import ErrorType
from domain.egress import EgressRule
from domain.events import DeadLetter, DeliverWebhook, DeliveryAttempted, is_retryable
from domain.signing import SIGNATURE_HEADER, Scheme, sign, sign_standard
from egress import Egress, EgressRefused
from store import events
from store.sql import utcnow
from store.tables import EventRow, WebhookSubscription

log = structlog.get_logger(__name__)

TIMEOUT_S = 10.0
# A subscriber's refusal or outage is its business, expected and recorded on the delivery: the worker
# logs it at debug level, without a traceback.
BENIGN = ApplicationErrorCategory.BENIGN


def signed_headers(subscription: WebhookSubscription, event: EventRow, body: bytes) -> dict[str, str]:
    """The headers of one delivery, signed with every secret the subscription signs with now."""
    now = utcnow()
    keys = events.signing_secrets(subscription, now)
    headers = {
        "Content-Type": "application/json",
        "Orderflow-Event-Id": event.event_id,
        "Orderflow-Event-Type": event.type,
        "User-Agent": "orderflow-webhooks/1",
    }
    timestamp = int(now.timestamp())
    if subscription.signing_scheme == Scheme.STANDARD.value:
        headers.update(sign_standard(keys, event.event_id, timestamp, body))
    else:
        headers[SIGNATURE_HEADER] = sign(keys[0], timestamp, body, *keys[1:])
    return headers


class WebhookActivities:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        egress: Egress | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self._sessions = sessions
        self._egress = egress or Egress(EgressRule(production=False))
        self._timeout_s = timeout_s

    @activity.defn(name="deliver_webhook")
    async def deliver_webhook(self, req: DeliverWebhook) -> DeliveryAttempted:
        """2xx: delivered. Network trouble, 408, 429, 5xx: raise, Temporal retries. Other 4xx: non-retryable."""
        with structlog.contextvars.bound_contextvars(delivery_id=req.delivery_id, event_id=req.event_id):
            async with self._sessions() as s:
                subscription = await events.get_subscription(s, req.subscription_id)
                event = await events.get_event(s, req.event_id)
            if subscription is None or not subscription.active:
                raise ApplicationError(
                    "the subscription was deleted or deactivated", type=ErrorType.SUBSCRIPTION_GONE, non_retryable=True
                )
            if event is None:
                raise ApplicationError(
                    f"event {req.event_id} is not in the outbox", type=ErrorType.SUBSCRIPTION_GONE, non_retryable=True
                )
            body = json.dumps(events.to_event(event).payload(), separators=(",", ":")).encode()
            headers = signed_headers(subscription, event, body)
            async with self._sessions.begin() as s:
                await events.start_attempt(s, req.delivery_id)
            status: int | None = None
            error: str | None = None
            refused = False
            try:
                async with self._egress.client(self._timeout_s) as http:
                    response = await http.post(subscription.url, content=body, headers=headers)
                status = response.status_code
                if not 200 <= status < 300:
                    error = f"HTTP {status}: {response.text[:200]}"
            except EgressRefused as err:
                error, refused = f"refused: {err}"[:500], True
            except httpx.HTTPError as err:
                error = f"{type(err).__name__}: {err}"[:500]
            async with self._sessions.begin() as s:
                await events.record_attempt(s, req.delivery_id, status, error)
            attempt = activity.info().attempt
            if status is not None and 200 <= status < 300:
                log.info("webhook delivered", status_code=status, attempt=attempt)
                return DeliveryAttempted(status)
            # An expected failure of someone else's system: one line, no traceback.
            log.warning("webhook attempt failed", status_code=status, error=error, attempt=attempt)
            if refused:
                raise ApplicationError(
                    error or "target refused",
                    type=ErrorType.WEBHOOK_TARGET_FORBIDDEN,
                    non_retryable=True,
                    category=BENIGN,
                )
            if status is not None and not is_retryable(status):
                raise ApplicationError(
                    f"the subscriber answered {status}",
                    type=ErrorType.WEBHOOK_REFUSED,
                    non_retryable=True,
                    category=BENIGN,
                )
            raise ApplicationError(error or "delivery failed", type=ErrorType.WEBHOOK_UNAVAILABLE, category=BENIGN)

    @activity.defn(name="dead_letter_webhook")
    async def dead_letter_webhook(self, req: DeadLetter) -> None:
        async with self._sessions.begin() as s:
            await events.dead_letter(s, req.delivery_id, req.error[:1000])
        log.warning("webhook dead-lettered", delivery_id=req.delivery_id, error=req.error)
