"""/v1/callbacks/{partner_id}: a warehouse or carrier reports progress, signed with its secret."""

from typing import Annotated

from fastapi import APIRouter, Path, Request

from api import callbacks
from api.deps import SessionsDep, TemporalDep
from api.partner_schemas import CallbackAccepted, CallbackIn
from api.problems import Problem, ProblemError
from domain.deliveries import PARTNER_ID_PATTERN, event_fingerprint
from domain.signing import SIGNATURE_HEADER
from store import partners

router = APIRouter(prefix="/v1/callbacks", tags=["partners"])


@router.post(
    "/{partner_id}",
    responses={401: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}},
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": CallbackIn.model_json_schema()}}},
        "parameters": [
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.' + raw body)>",
            }
        ],
        "security": [],
    },
)
async def receive_callback(
    partner_id: Annotated[str, Path(pattern=PARTNER_ID_PATTERN)],
    request: Request,
    temporal: TemporalDep,
    sessions: SessionsDep,
) -> CallbackAccepted:
    """A partner's event (docs/integrations.md#partner-callbacks). No API key: the signature
    authenticates. 200 once it took effect; the same event ID again answers `replayed: true` and
    changes nothing; the same ID with a different body is 409."""
    body = await request.body()
    partner = await callbacks.authenticate(sessions, partner_id, request.headers.get(SIGNATURE_HEADER), body)
    event, data = callbacks.parse(body)
    fingerprint = event_fingerprint(event.model_dump(mode="json"))
    async with sessions() as s:
        recorded = await partners.recorded_event(s, partner.partner_id, event.id)
    if recorded is not None:
        if recorded.fingerprint != fingerprint:
            raise ProblemError(
                409, "Event ID reused", f"event {event.id} was received before with a different body; use a new id"
            )
        return CallbackAccepted(event_id=event.id, type=event.type, order_id=recorded.order_id, replayed=True)
    order_id = await callbacks.apply(temporal, sessions, partner, event, data)
    # Recorded only now that it took effect: a send that died before this point can be sent again.
    await callbacks.record(sessions, partner, event, fingerprint, order_id)
    return CallbackAccepted(event_id=event.id, type=event.type, order_id=order_id, replayed=False)
