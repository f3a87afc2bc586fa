"""/v1/webhooks: who hears about business events, and how their deliveries went. Admin only.
/v1/events: the outbox itself, for operators."""

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.access import Admin, Operator
from api.deps import EgressDep, IdPath, SessionDep, SettingsDep, TemporalDep
from api.event_schemas import (
    DeliveryOut,
    DeliveryPage,
    EventOut,
    EventPage,
    RotateWebhookSecret,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    WebhookPage,
    WebhookPatch,
)
from api.limits import PageLimit
from api.problems import Problem, ProblemError, invalid, not_found
from domain.events import CATALOGUE, DELIVERY_PENDING, DELIVERY_STATUSES, DeliverWebhook
from domain.orders import InvalidField
from domain.signing import Scheme, standard_key
from egress import Egress
from gateway import starts
from store import events
from store.orders import decode_cursor, encode_cursor
from store.tables import WebhookSubscription

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
events_router = APIRouter(prefix="/v1/events", tags=["webhooks"])

DeliveryStatus = Annotated[str | None, Query(pattern=f"^({'|'.join(DELIVERY_STATUSES)})$")]
EventType = Annotated[str | None, Query(pattern=f"^({'|'.join(t.replace('.', '[.]') for t in CATALOGUE)})$")]


def _out(subscription: WebhookSubscription) -> WebhookOut:
    return WebhookOut.model_validate(subscription, from_attributes=True)


async def _subscription(session: SessionDep, subscription_id: str) -> WebhookSubscription:
    subscription = await events.get_subscription(session, subscription_id)
    if subscription is None:
        raise not_found(f"webhook {subscription_id}")
    return subscription


def _cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor)
    except ValueError as err:
        raise invalid([InvalidField("cursor", str(err))]) from err


async def _check_target(egress: Egress, url: str) -> None:
    reason = await egress.check_url(url)
    if reason is not None:
        raise invalid([InvalidField("url", f"not a permitted target: {reason}")])


def _check_secret(scheme: Scheme, secret: str | None) -> None:
    if secret is not None and scheme is Scheme.STANDARD:
        try:
            standard_key(secret)
        except ValueError as err:
            raise invalid([InvalidField("secret", str(err))]) from None


@router.post("", status_code=201, responses={422: {"model": Problem}})
async def create_webhook(
    body: WebhookIn, _: Admin, session: SessionDep, egress: EgressDep, response: Response
) -> WebhookCreated:
    """Subscribe a URL to event types. The response carries the signing secret this once.

    The URL must reach a permitted address (docs/security.md): never link-local or cloud metadata; in
    production not loopback or private networks unless ORDERFLOW_EGRESS_ALLOW names them."""
    _check_secret(body.signing_scheme, body.secret)
    await _check_target(egress, body.url)
    secret = body.secret or events.new_secret(body.signing_scheme)
    subscription = await events.create_subscription(
        session, body.url, body.event_types, secret, body.active, body.signing_scheme
    )
    response.headers["Location"] = f"/v1/webhooks/{subscription.subscription_id}"
    return WebhookCreated(**_out(subscription).model_dump(), secret=secret)


@router.get("")
async def list_webhooks(
    _: Admin,
    session: SessionDep,
    limit: PageLimit,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> WebhookPage:
    rows = await events.subscriptions(session, limit + 1, cursor)
    return WebhookPage(
        items=[_out(s) for s in rows[:limit]],
        next_cursor=rows[limit - 1].subscription_id if len(rows) > limit else None,
    )


@router.get("/{subscription_id}", responses={404: {"model": Problem}})
async def get_webhook(subscription_id: IdPath, _: Admin, session: SessionDep) -> WebhookOut:
    return _out(await _subscription(session, subscription_id))


@router.patch("/{subscription_id}", responses={404: {"model": Problem}, 422: {"model": Problem}})
async def update_webhook(
    subscription_id: IdPath, body: WebhookPatch, _: Admin, session: SessionDep, egress: EgressDep
) -> WebhookOut:
    """Change the URL, the event types, or pause (active=false: deliveries in flight stop and are dead-lettered)."""
    changes = body.model_dump(exclude_none=True)
    if body.url is not None:
        await _check_target(egress, body.url)
    subscription = await events.update_subscription(session, subscription_id, **changes)
    if subscription is None:
        raise not_found(f"webhook {subscription_id}")
    return _out(subscription)


@router.post("/{subscription_id}/rotate-secret", responses={404: {"model": Problem}, 422: {"model": Problem}})
async def rotate_webhook_secret(
    subscription_id: IdPath, _: Admin, session: SessionDep, body: RotateWebhookSecret | None = None
) -> WebhookCreated:
    """A new signing secret, shown this once. For `overlap_hours` (24 unless given) every delivery carries
    two signatures, by the new and by the old secret, so the subscriber can switch at its own pace."""
    body = body or RotateWebhookSecret()
    subscription = await _subscription(session, subscription_id)
    scheme = Scheme(subscription.signing_scheme)
    _check_secret(scheme, body.secret)
    secret = body.secret or events.new_secret(scheme)
    rotated = await events.rotate_secret(session, subscription_id, secret, timedelta(hours=body.overlap_hours))
    assert rotated is not None
    return WebhookCreated(**_out(rotated).model_dump(), secret=secret)


@router.delete("/{subscription_id}", status_code=204, responses={404: {"model": Problem}})
async def delete_webhook(subscription_id: IdPath, _: Admin, session: SessionDep) -> Response:
    if not await events.delete_subscription(session, subscription_id):
        raise not_found(f"webhook {subscription_id}")
    return Response(status_code=204)


@router.get("/{subscription_id}/deliveries", responses={404: {"model": Problem}, 422: {"model": Problem}})
async def list_deliveries(
    subscription_id: IdPath,
    _: Admin,
    session: SessionDep,
    limit: PageLimit,
    status: DeliveryStatus = None,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> DeliveryPage:
    """Deliveries of this subscription, newest first; `status=failed` lists the dead letters."""
    await _subscription(session, subscription_id)
    after = _cursor(cursor)
    rows = await events.delivery_page(session, subscription_id, status, limit + 1, after)
    last = rows[limit - 1] if len(rows) > limit else None
    return DeliveryPage(
        items=[DeliveryOut.model_validate(r, from_attributes=True) for r in rows[:limit]],
        next_cursor=encode_cursor(last.created_at, last.delivery_id) if last else None,
    )


@router.post(
    "/{subscription_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
)
async def redeliver(
    subscription_id: IdPath,
    delivery_id: Annotated[str, IdPath],
    _: Admin,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> DeliveryOut:
    """Send the event again, with fresh retries: for a dead letter, or to replay a delivered event."""
    subscription = await _subscription(session, subscription_id)
    delivery = await events.get_delivery(session, delivery_id)
    if delivery is None or delivery.subscription_id != subscription_id:
        raise not_found(f"delivery {delivery_id}")
    if delivery.status == DELIVERY_PENDING:
        raise ProblemError(409, "Delivery in progress", "this delivery is still being tried; wait for it to end")
    if not subscription.active:
        raise ProblemError(409, "Webhook inactive", "activate the webhook (PATCH active=true) before redelivering")
    number = await events.reopen(session, delivery)
    await session.flush()
    # A retry of this very request finds the redelivery already under way: not started twice.
    redelivery = DeliverWebhook(delivery.delivery_id, subscription_id, delivery.event_id, settings.webhook_retry_hours)
    await starts.start_delivery(temporal, settings.task_queue, redelivery, number)
    return DeliveryOut.model_validate(delivery, from_attributes=True)


@events_router.get("", responses={422: {"model": Problem}})
async def list_events(
    _: Operator,
    session: SessionDep,
    limit: PageLimit,
    type: EventType = None,
    order_id: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
) -> EventPage:
    """The business events, newest first: what webhooks and the message bus were given."""
    rows = await events.event_page(session, type, order_id, limit + 1, int(cursor) if cursor else None)
    return EventPage(
        items=[
            EventOut(
                id=r.event_id,
                type=r.type,
                occurred_at=r.occurred_at,
                data=r.data,
                dispatched_at=r.dispatched_at,
                published_at=r.published_at,
            )
            for r in rows[:limit]
        ],
        next_cursor=str(rows[limit - 1].seq) if len(rows) > limit else None,
    )
