"""Reading an order spreadsheet (CSV or XLSX) into orders, each validated exactly like POST /v1/orders.

Pure: bytes in, orders and row-level errors out. Rows are numbered as a spreadsheet shows them (the
header is row 1) and every error names its rows and, where there is one, its column.
"""

import csv
import io
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook, load_workbook
from pydantic import ValidationError

from api.order_schemas import SubmitOrder
from api.problems import ProblemError
from domain.orders import InvalidField, Order, invalid_skus, order_id_for, validate

COLUMNS = (
    "channel",
    "external_id",
    "customer_id",
    "customer_name",
    "customer_email",
    "ship_to_name",
    "ship_to_line1",
    "ship_to_line2",
    "ship_to_city",
    "ship_to_region",
    "ship_to_postal_code",
    "ship_to_country",
    "currency",
    "ship_by",
    "priority",
    "sku",
    "quantity",
    "unit_price",
)
OPTIONAL = frozenset({"ship_to_line2", "ship_to_region", "ship_by", "priority"})
REQUIRED = tuple(c for c in COLUMNS if c not in OPTIONAL)
LINE_COLUMNS = ("sku", "quantity", "unit_price")
ORDER_COLUMNS = tuple(c for c in COLUMNS if c not in LINE_COLUMNS)
EXAMPLE = {
    "channel": "web",
    "external_id": "WEB-20001",
    "customer_id": "C-1",
    "customer_name": "Li Wei",
    "customer_email": "li.wei@example.com",
    "ship_to_name": "Li Wei",
    "ship_to_line1": "88 Century Ave",
    "ship_to_line2": "",
    "ship_to_city": "Shanghai",
    "ship_to_region": "",
    "ship_to_postal_code": "200120",
    "ship_to_country": "CN",
    "currency": "CNY",
    "ship_by": "",
    "priority": "standard",
    "sku": "TEE-BLK-M",
    "quantity": "2",
    "unit_price": "49.00",
}
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_COLUMNS = 64  # an XLSX sheet is read this wide at most
_LINE_FIELD = re.compile(r"^lines\[(\d+)\]\.(\w+)$")


@dataclass(frozen=True)
class RowError:
    rows: list[int]
    column: str | None
    message: str


@dataclass(frozen=True)
class Row:
    number: int  # as the spreadsheet shows it: the header is row 1
    values: dict[str, str]


@dataclass(frozen=True)
class Sheet:
    format: str  # "csv" or "xlsx"
    rows: list[Row]


@dataclass
class ImportedOrder:
    """The rows of one (channel, external_id): an order when they are valid, else the errors."""

    channel: str
    external_id: str
    rows: list[int]
    order: Order | None = None
    errors: list[RowError] = field(default_factory=list)

    @property
    def order_id(self) -> str | None:
        return order_id_for(self.channel, self.external_id) if self.channel and self.external_id else None


def file_problem(status: int, detail: str) -> ProblemError:
    title = "Unsupported file type" if status == 415 else "Invalid file"
    return ProblemError(status, title, detail, [InvalidField("file", detail)])


def read_sheet(content: bytes, filename: str, content_type: str, max_rows: int) -> Sheet:
    """The data rows of an uploaded CSV or XLSX file; 415 for another kind of file, 422 for one that
    cannot be read or lacks a required column."""
    kind = file_kind(content, filename, content_type)
    table = _xlsx_cells(content) if kind == "xlsx" else _csv_cells(content)
    header = next(table, None)
    if header is None:
        raise file_problem(422, "the file is empty; the first row must name the columns")
    columns = [cell.strip().lower() for cell in header]
    named = [c for c in columns if c]
    unknown = [c for c in named if c not in COLUMNS]
    if unknown:
        raise file_problem(422, f"unknown column(s) {', '.join(unknown)}; the columns are {', '.join(COLUMNS)}")
    doubled = sorted({c for c in named if named.count(c) > 1})
    if doubled:
        raise file_problem(422, f"column(s) {', '.join(doubled)} appear more than once")
    missing = [c for c in REQUIRED if c not in named]
    if missing:
        raise file_problem(422, f"missing required column(s) {', '.join(missing)}")
    rows: list[Row] = []
    for number, cells in enumerate(table, start=2):
        values = {c: cells[i].strip() if i < len(cells) else "" for i, c in enumerate(columns) if c}
        extra = any(cell.strip() for cell in cells[len(columns) :])
        if not any(values.values()) and not extra:
            continue  # a blank row
        if len(rows) >= max_rows:
            raise file_problem(422, f"at most {max_rows} rows per file; split it")
        if extra:
            values["__extra__"] = "1"
        rows.append(Row(number, values))
    if not rows:
        raise file_problem(422, "the file has no order rows below the header")
    return Sheet(kind, rows)


def file_kind(content: bytes, filename: str, content_type: str) -> str:
    name = filename.lower()
    if content.startswith(b"PK\x03\x04") or name.endswith(".xlsx") or content_type == XLSX_MEDIA_TYPE:
        return "xlsx"
    if content.startswith(b"\xd0\xcf\x11\xe0") or name.endswith(".xls"):
        raise file_problem(415, "an old .xls workbook; save it as .xlsx or .csv")
    if name.endswith((".csv", ".txt")) or content_type.startswith("text/"):
        return "csv"
    if "." not in name and content_type in ("", "application/octet-stream"):  # no hint: try CSV
        return "csv"
    raise file_problem(415, "upload a .csv or .xlsx file")


def _csv_cells(content: bytes) -> Iterator[list[str]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise file_problem(422, "a CSV file must be UTF-8 text") from None
    if "\x00" in text:
        raise file_problem(422, "a CSV file must not contain NUL characters")
    reader = csv.reader(io.StringIO(text, newline=""))

    def cells() -> Iterator[list[str]]:
        try:
            yield from reader
        except csv.Error as err:
            raise file_problem(422, f"row {reader.line_num}: not valid CSV ({err})") from None

    return iter(cells())


def _xlsx_cells(content: bytes) -> Iterator[list[str]]:
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        rows = list(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True))
    except (zipfile.BadZipFile, KeyError, IndexError, OSError, ValueError, TypeError):
        raise file_problem(422, "not a readable .xlsx workbook") from None
    return iter([[_cell_text(value) for value in row] for row in rows])


def _cell_text(value: Any) -> str:
    """A cell as the text a CSV would hold: whole numbers without ".0", dates in ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def orders_from(sheet: Sheet, key_channel: str | None, max_lines: int) -> list[ImportedOrder]:
    """The rows grouped into orders by (channel, external_id), in the order they first appear, each one
    validated by the same schema as POST /v1/orders. A row without channel or external_id stands alone."""
    groups: dict[tuple[str, str, int], list[Row]] = {}
    for row in sheet.rows:
        channel, external_id = row.values["channel"], row.values["external_id"]
        groups.setdefault((channel, external_id, 0 if channel and external_id else row.number), []).append(row)
    return [_order_of(ch, ext, rows, key_channel, max_lines) for (ch, ext, _), rows in groups.items()]


def _order_of(
    channel: str, external_id: str, rows: list[Row], key_channel: str | None, max_lines: int
) -> ImportedOrder:
    imported = ImportedOrder(channel, external_id, [r.number for r in rows])
    errors = imported.errors
    for row in rows:
        if "__extra__" in row.values:
            errors.append(RowError([row.number], None, "has values beyond the last named column"))
    first = rows[0]
    for column in ORDER_COLUMNS:
        expected = first.values.get(column, "")
        differing = [r for r in rows[1:] if r.values.get(column, "") != expected]
        if differing:
            shown = ", ".join(f"row {r.number} has {r.values.get(column, '')!r}" for r in differing)
            errors.append(
                RowError(
                    [first.number, *(r.number for r in differing)],
                    column,
                    f"rows of one order must agree: row {first.number} has {expected!r}, {shown}",
                )
            )
    if key_channel is not None and channel and channel != key_channel:
        errors.append(RowError(imported.rows, "channel", f"this key imports orders for channel {key_channel} only"))
    if len(rows) > max_lines:
        errors.append(RowError(imported.rows, None, f"at most {max_lines} lines per order"))

    try:
        body = SubmitOrder.model_validate(_body(first.values, rows))
    except ValidationError as err:
        for e in err.errors():
            at, line = _column_of(e["loc"])
            errors.append(RowError(imported.rows if line is None else [rows[line].number], at, e["msg"]))
        body = None
    if body is not None and not errors:
        try:
            order = body.to_domain()
        except ProblemError as err:
            errors += _field_errors(imported.rows, [InvalidField(e.field, e.message) for e in err.problem.errors])
        else:
            errors += _field_errors(imported.rows, validate(order))
            if not errors:
                imported.order = order
    errors.sort(key=lambda e: (e.rows[0], COLUMNS.index(e.column) if e.column in COLUMNS else len(COLUMNS)))
    return imported


def check_catalog(imported: Sequence[ImportedOrder], active_by_sku: dict[str, bool]) -> None:
    """Turn orders with unknown or inactive SKUs into errors, as POST /v1/orders refuses them."""
    for item in imported:
        if item.order is None:
            continue
        invalid_fields = invalid_skus(item.order, active_by_sku)
        if invalid_fields:
            item.errors += _field_errors(item.rows, invalid_fields)
            item.order = None


def _body(order: dict[str, str], rows: list[Row]) -> dict[str, Any]:
    def some(values: dict[str, str], names: dict[str, str]) -> dict[str, str]:
        return {key: values[column] for key, column in names.items() if values.get(column)}

    body: dict[str, Any] = some(order, {"channel": "channel", "external_id": "external_id", "currency": "currency"})
    body |= some(order, {"ship_by": "ship_by", "priority": "priority"})
    body["customer"] = some(order, {"id": "customer_id", "name": "customer_name", "email": "customer_email"})
    body["ship_to"] = some(
        order,
        {
            "name": "ship_to_name",
            "line1": "ship_to_line1",
            "line2": "ship_to_line2",
            "city": "ship_to_city",
            "region": "ship_to_region",
            "postal_code": "ship_to_postal_code",
            "country": "ship_to_country",
        },
    )
    body["lines"] = [some(r.values, {c: c for c in LINE_COLUMNS}) for r in rows]
    return body


def _column_of(loc: Sequence[int | str]) -> tuple[str | None, int | None]:
    """A schema error's location as a column and, for a line's field, the line's index."""
    if not loc:
        return None, None
    head = str(loc[0])
    if head in ("customer", "ship_to") and len(loc) > 1:
        return f"{head}_{loc[1]}", None
    if head == "lines":
        if len(loc) > 2 and isinstance(loc[1], int):
            return str(loc[2]), loc[1]
        return None, None
    return head, None


def _field_errors(rows: list[int], invalid_fields: Sequence[InvalidField]) -> list[RowError]:
    """Invalid fields ("lines[2].sku: ...") as errors on the line's row, or on all the order's rows."""
    return [
        RowError([rows[int(m.group(1))]], m.group(2), p.message)
        if (m := _LINE_FIELD.match(p.field))
        else RowError(rows, None, str(p))
        for p in invalid_fields
    ]


def template_csv() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerow([EXAMPLE[c] for c in COLUMNS])
    return out.getvalue().encode()


def template_xlsx() -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "orders"
    sheet.append(list(COLUMNS))
    sheet.append([EXAMPLE[c] or None for c in COLUMNS])
    for cell in sheet[2]:
        cell.number_format = "@"  # text: postal codes and prices keep their leading and trailing zeros
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
