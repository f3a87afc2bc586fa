"""/v1/orders/import and /v1/imports: orders from a spreadsheet, started as a durable batch."""

import asyncio
import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from api import importing
from api.access import OrderReader, OrderSubmitter
from api.deps import IdPath, SessionsDep, SettingsDep, TemporalDep
from api.limits import PageLimit
from api.problems import Problem, not_found
from domain.access import Principal
from domain.imports import (
    ImportBatch,
    ImportOutcome,
    ImportStatus,
    chunks_for,
    order_to_json,
)
from gateway import starts
from gateway.errors import Unavailable
from store import catalog, imports
from store.db import READ_ONLY
from store.sql import utcnow
from store.tables import ImportRow

log = structlog.get_logger(__name__)

router = APIRouter(tags=["imports"])

UPLOAD_PATH = "/v1/orders/import"
POLL_S = 0.2
CURSOR = r"^[0-9]{1,9}$"  # an order's place in the file


class RowErrorOut(BaseModel):
    rows: list[int] = Field(description="spreadsheet row numbers; the header is row 1")
    column: str | None = Field(description="the column at fault; null when the whole order is")
    message: str


class ImportedOrderOut(BaseModel):
    order_id: str | None = Field(description="null when the rows name no channel or external_id")
    channel: str
    external_id: str
    rows: list[int]
    outcome: ImportOutcome
    errors: list[RowErrorOut] = []


class ImportProgress(BaseModel):
    orders: int
    created: int
    duplicate: int
    invalid: int
    pending: int


class ImportOut(BaseModel):
    import_id: str
    name: str
    format: str
    status: ImportStatus
    rows: int = Field(description="data rows read (blank rows are skipped)")
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    progress: ImportProgress
    results: list[ImportedOrderOut] = Field(description="one page of the orders, in file order")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


# The form is read by the route, so that a body that is not valid multipart is a 422 naming `file`
# like every other unreadable upload; this describes it for /docs and clients.
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV (UTF-8) or XLSX, one row per order line",
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    UPLOAD_PATH,
    status_code=202,
    openapi_extra=UPLOAD_BODY,
    responses={
        200: {"model": ImportOut, "description": "the import finished before the answer (see `wait`)"},
        413: {"model": Problem},
        415: {"model": Problem},
        422: {"model": Problem},
        503: {"model": Problem, "description": "Temporal did not take the import; upload the file again"},
    },
)
async def import_orders(
    principal: OrderSubmitter,
    temporal: TemporalDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    response: Response,
    request: Request,
    limit: PageLimit,
    wait: Annotated[float, Query(ge=0, le=30, description="seconds to wait for the import to finish")] = 0,
) -> ImportOut:
    """Import orders from a spreadsheet: rows are grouped into orders by (channel, external_id) and each
    order is validated exactly like POST /v1/orders. Invalid orders are reported at once; valid ones are
    started by a durable batch job. 202 with a Location to follow its progress, or 200 when it has
    finished by the time of the answer; either way with the first page of the orders' outcomes."""
    file = await _uploaded(request)
    content = await file.read()
    # Parsing and validating 10,000 rows takes a second or two of CPU: off the event loop.
    sheet = await asyncio.to_thread(
        importing.read_sheet, content, file.filename or "", file.content_type or "", settings.max_import_rows
    )
    parsed = await asyncio.to_thread(importing.orders_from, sheet, principal.channel, settings.max_order_lines)
    skus = sorted({line.sku for item in parsed if item.order is not None for line in item.order.lines})
    async with sessions() as s:
        await s.connection(execution_options=READ_ONLY)
        known = await catalog.products_by_sku(s, skus)
    importing.check_catalog(parsed, {sku: p.active for sku, p in known.items()})

    import_id = f"imp_{uuid.uuid4().hex[:20]}"
    valid = sum(1 for item in parsed if item.order is not None)
    row = ImportRow(
        import_id=import_id,
        name=_storable(file.filename or "upload")[:200],
        format=sheet.format,
        status=(ImportStatus.RUNNING if valid else ImportStatus.COMPLETED).value,
        rows=len(sheet.rows),
        created_by=principal.actor,
        channel=principal.channel,
        created_at=utcnow(),
        finished_at=None if valid else utcnow(),
    )
    stored = [
        imports.NewImportOrder(
            order_id=item.order_id,
            channel=item.channel[:200],
            external_id=item.external_id[:200],
            rows=item.rows,
            errors=[asdict(e) for e in item.errors],
            order=order_to_json(item.order) if item.order is not None else None,
        )
        for item in parsed
    ]
    async with sessions.begin() as s:
        await imports.create(s, row, stored)
    if valid:
        await _start_batch(temporal, sessions, settings.task_queue, import_id, len(stored))
    log.info("import accepted", import_id=import_id, rows=len(sheet.rows), orders=len(stored), valid=valid)

    response.headers["Location"] = f"/v1/imports/{import_id}"
    deadline = asyncio.get_running_loop().time() + wait
    while valid and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(POLL_S)
        async with sessions() as s:
            await s.connection(execution_options=READ_ONLY)
            polled = await imports.get(s, import_id)
        if polled is None or polled.status == ImportStatus.COMPLETED.value:
            break
    out = await _read(sessions, import_id, principal, limit)
    if out.status is ImportStatus.COMPLETED:
        response.status_code = 200
    return out


async def _uploaded(request: Request) -> UploadFile:
    try:
        form = await request.form(max_files=1, max_fields=10)
    except HTTPException as err:  # Starlette's answer to a malformed multipart body
        raise importing.file_problem(422, f"not a valid multipart/form-data body ({err.detail})") from None
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise importing.file_problem(422, "send the spreadsheet as multipart/form-data in the field file")
    return file


def _storable(text: str) -> str:
    """A file name as the database can hold it: no NUL, valid Unicode."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode()


async def _start_batch(
    temporal: TemporalDep, sessions: SessionsDep, task_queue: str, import_id: str, orders: int
) -> None:
    try:
        await starts.start_import(temporal, task_queue, ImportBatch(import_id, chunks_for(orders)))
    except Unavailable as err:
        log.exception("import batch not started", import_id=import_id)
        async with sessions.begin() as s:
            await imports.remove(s, import_id)  # nothing started: the caller uploads again
        raise Unavailable(f"{err.reason}; upload the file again shortly") from None


@router.get("/v1/imports/{import_id}", responses={404: {"model": Problem}})
async def get_import(
    import_id: IdPath,
    principal: OrderReader,
    sessions: SessionsDep,
    limit: PageLimit,
    outcome: Annotated[ImportOutcome | None, Query(description="only the orders with this outcome")] = None,
    cursor: Annotated[str | None, Query(pattern=CURSOR, description="`next_cursor` of the page before")] = None,
) -> ImportOut:
    """An import's status, progress counts and one page of its orders' outcomes (in file order). A
    channel key sees its own channel's imports only."""
    return await _read(sessions, import_id, principal, limit, outcome, int(cursor) if cursor else None)


async def _read(
    sessions: SessionsDep,
    import_id: str,
    principal: Principal,
    limit: int,
    outcome: ImportOutcome | None = None,
    after: int | None = None,
) -> ImportOut:
    async with sessions() as s:
        await s.connection(execution_options=READ_ONLY)
        row = await imports.get(s, import_id)
        if row is None or (principal.channel is not None and row.channel != principal.channel):
            raise not_found(f"import {import_id}")
        counts = await imports.counts(s, import_id)
        items = await imports.orders_of(s, import_id, outcome, after, limit + 1)
    return ImportOut(
        import_id=row.import_id,
        name=row.name,
        format=row.format,
        status=ImportStatus(row.status),
        rows=row.rows,
        created_by=row.created_by,
        created_at=row.created_at,
        finished_at=row.finished_at,
        progress=ImportProgress(
            orders=sum(counts.values()),
            created=counts[ImportOutcome.CREATED],
            duplicate=counts[ImportOutcome.DUPLICATE],
            invalid=counts[ImportOutcome.INVALID],
            pending=counts[ImportOutcome.PENDING],
        ),
        results=[
            ImportedOrderOut(
                order_id=item.order_id,
                channel=item.channel,
                external_id=item.external_id,
                rows=item.rows,
                outcome=ImportOutcome(item.outcome),
                errors=[RowErrorOut(**e) for e in item.errors],
            )
            for item in items[:limit]
        ],
        next_cursor=str(items[limit - 1].seq) if len(items) > limit else None,
    )


TEMPLATES: dict[str, tuple[str, Any]] = {
    "csv": ("text/csv; charset=utf-8", importing.template_csv),
    "xlsx": (importing.XLSX_MEDIA_TYPE, importing.template_xlsx),
}


@router.get(
    f"{UPLOAD_PATH}/template",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, importing.XLSX_MEDIA_TYPE: {}}}},
)
async def import_template(_: OrderSubmitter, format: Literal["csv", "xlsx"] = "csv") -> Response:
    """The columns of an import file and one example row, as CSV or XLSX."""
    media_type, build = TEMPLATES[format]
    return Response(
        build(),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="orders-template.{format}"'},
    )
