"""Partners, their events and delivery progress, without servers."""

from datetime import UTC, datetime

import pytest

from api.callbacks import parse
from api.partner_schemas import DeliveredData, PickConfirmedData
from api.problems import ProblemError
from domain.deliveries import CallbackType, DeliveryProgress, Partner, PartnerKind, event_fingerprint
from domain.exceptions import Action, ExceptionKind, allowed_actions
from domain.orders import Step


def test_a_partner_speaks_only_for_its_own_warehouses_or_carrier() -> None:
    warehouse = Partner("north-dc", PartnerKind.WAREHOUSE, warehouses=("NORTH", "EAST"))
    carrier = Partner("acme-post", PartnerKind.CARRIER, carrier="acme")
    assert warehouse.speaks_for_warehouse("NORTH") and not warehouse.speaks_for_warehouse("MAIN")
    assert not warehouse.speaks_for_carrier("acme")
    assert carrier.speaks_for_carrier("acme") and not carrier.speaks_for_carrier("other")
    assert not carrier.speaks_for_warehouse("NORTH")
    assert carrier.actor == "partner:acme-post"


def test_the_same_event_resent_has_the_same_fingerprint() -> None:
    sent = {"id": "e1", "type": "shipment.delivered", "data": {"shipment_id": "SH-1", "received_by": "Li"}}
    resent = {"data": {"received_by": "Li", "shipment_id": "SH-1"}, "type": "shipment.delivered", "id": "e1"}
    assert event_fingerprint(sent) == event_fingerprint(resent)
    assert event_fingerprint(sent) != event_fingerprint({**sent, "data": {"shipment_id": "SH-2"}})


def test_a_failed_delivery_is_retried_by_the_carrier_or_settled_outside() -> None:
    assert allowed_actions(ExceptionKind.DELIVERY_FAILED, Step.DELIVER, shipped=True) == [
        Action.RETRY,
        Action.ACKNOWLEDGE,
    ]


def test_an_order_is_delivered_when_every_shipment_is() -> None:
    at = datetime(2026, 11, 29, tzinfo=UTC)
    assert DeliveryProgress({"SH-1": at, "SH-2": at}).all_delivered
    assert not DeliveryProgress({"SH-1": at, "SH-2": None}).all_delivered
    assert not DeliveryProgress({}).all_delivered


def test_events_parse_by_type_and_name_the_field_at_fault() -> None:
    event, data = parse(
        b'{"id": "e-1", "type": "pick.confirmed", "occurred_at": "2026-11-29T10:00:00Z",'
        b' "data": {"pick_list_id": "PL-1", "picked_by": "ana"}}'
    )
    assert event.type is CallbackType.PICK_CONFIRMED and data == PickConfirmedData(pick_list_id="PL-1", picked_by="ana")
    _, delivered = parse(
        b'{"id": "e-2", "type": "shipment.delivered", "occurred_at": "2026-11-29T10:00:00Z",'
        b' "data": {"shipment_id": "S"}}'
    )
    assert isinstance(delivered, DeliveredData) and delivered.received_by is None

    cases = {
        b"not json": "body",
        b'{"id": "e 1", "type": "pick.confirmed", "occurred_at": "2026-11-29T10:00:00Z", "data": {}}': "id",
        b'{"id": "e1", "type": "shipment.lost", "occurred_at": "2026-11-29T10:00:00Z", "data": {}}': "type",
        b'{"id": "e1", "type": "pick.confirmed", "occurred_at": "2026-11-29T10:00:00", "data": {}}': "occurred_at",
        b'{"id": "e1", "type": "shipment.delivery_failed", "occurred_at": "2026-11-29T10:00:00Z",'
        b' "data": {"shipment_id": "SH-1"}}': "data.reason",
        b'{"id": "e1", "type": "shipment.delivered", "occurred_at": "2026-11-29T10:00:00Z",'
        b' "data": {"shipment_id": "SH-1", "colour": "red"}}': "data.colour",
    }
    for body, field in cases.items():
        with pytest.raises(ProblemError) as refused:
            parse(body)
        assert refused.value.problem.status == 422
        assert field in [e.field for e in refused.value.problem.errors], (body, refused.value.problem)
