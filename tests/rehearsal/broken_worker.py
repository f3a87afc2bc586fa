"""A deliberately broken build for the rehearsal's negative control: the carrier step is made
non-idempotent. Every attempt books under a fresh key, and the first answer for each shipment is lost (a
connection reset after the carrier recorded the booking), so the step's retry books the parcel again."""

import uuid

from activities.carrier import Booking
from activities.external import HttpCarrier
from domain.steps import BookShipment

_original = HttpCarrier.book
_answered: set[str] = set()


async def _book_again_and_again(self: HttpCarrier, shipment_id: str, req: BookShipment) -> Booking:
    booking = await _original(self, f"{shipment_id}-{uuid.uuid4().hex[:6]}", req)
    if shipment_id not in _answered:
        _answered.add(shipment_id)
        raise ConnectionResetError("the carrier's answer was lost")
    return booking


def run_worker() -> None:
    HttpCarrier.book = _book_again_and_again  # type: ignore[method-assign]
    import bench.probe

    bench.probe.run_worker()
