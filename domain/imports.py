"""Spreadsheet imports: what an import's orders end up as, and what crosses the ImportBatch workflow.

An imported order is stored (as JSON) with its import before any workflow starts, so the batch can be
resumed from the database; the workflow itself only carries the import ID and a chunk number.
"""

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.orders import Address, Customer, Order, OrderLine, Priority

# Orders started per activity call: big enough to move 10,000 rows in ~100 steps, small enough that a
# retried step repeats little work.
CHUNK_SIZE = 100
# Chunks per workflow run before it continues as new: about 1,200 history events.
CHUNKS_PER_RUN = 200


class ImportOutcome(StrEnum):
    PENDING = "pending"  # valid, its workflow not started yet
    CREATED = "created"  # this import started the order
    DUPLICATE = "duplicate"  # the same order had been submitted before
    INVALID = "invalid"  # rejected: the rows and messages say why


class ImportStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"


def chunks_for(orders: int, size: int = CHUNK_SIZE) -> int:
    return -(-orders // size)


@dataclass(frozen=True)
class ImportBatch:
    import_id: str
    chunks: int
    next_chunk: int = 0  # where a continued run picks up
    chunk_size: int = CHUNK_SIZE
    chunks_per_run: int = CHUNKS_PER_RUN


@dataclass(frozen=True)
class StartChunk:
    import_id: str
    chunk: int
    size: int = CHUNK_SIZE


@dataclass(frozen=True)
class ChunkStarted:
    created: int = 0
    duplicate: int = 0
    invalid: int = 0


def order_to_json(order: Order) -> dict[str, Any]:
    data = asdict(order)
    data["ship_by"] = order.ship_by.isoformat() if order.ship_by else None
    data["priority"] = order.priority.value
    return data


def order_from_json(data: dict[str, Any]) -> Order:
    return Order(
        channel=data["channel"],
        external_id=data["external_id"],
        customer=Customer(**data["customer"]),
        ship_to=Address(**data["ship_to"]),
        lines=[OrderLine(**line) for line in data["lines"]],
        currency=data["currency"],
        ship_by=datetime.fromisoformat(data["ship_by"]) if data["ship_by"] else None,
        priority=Priority(data["priority"]),
    )
